/** API Gateway (HTTP API) → the one HTTP app. */
import { getConnInfo, handle } from "hono/aws-lambda";
import { createApp } from "./http/app.ts";
import { lambdaGyre } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

// Queue time (claims) and job duration (finishes) are recorded here: emitted after each request.
export const handler = withEventMetrics(
  handle(
    createApp(lambdaGyre(), {
      // API Gateway's view of the caller: its source IP and its request id, as audit records name them.
      remoteAddress: (c) => getConnInfo(c).remote.address,
      requestId: (c) =>
        (c.env as { requestContext?: { requestId?: string } } | undefined)?.requestContext?.requestId,
    }),
  ),
);
