/** API Gateway (HTTP API) → the one HTTP app. */
import { getConnInfo, handle } from "hono/aws-lambda";
import { createApp } from "./http/app.ts";
import { bucketAssets } from "./http/web.ts";
import { lambdaGyre } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

// Queue time (claims) and job duration (finishes) are recorded here: emitted after each request.
const gyre = lambdaGyre();
export const handler = withEventMetrics(
  handle(
    createApp(gyre, {
      // The web app: the copy the deployment put in the bucket (infra/web.ts).
      web: bucketAssets(gyre),
      // API Gateway's view of the caller: its source IP and its request id, as audit records name them.
      remoteAddress: (c) => getConnInfo(c).remote.address,
      requestId: (c) =>
        (c.env as { requestContext?: { requestId?: string } } | undefined)?.requestContext?.requestId,
    }),
  ),
);
