/** API Gateway (HTTP API) → the one HTTP app. */
import { handle } from "hono/aws-lambda";
import { createApp } from "./http/app.ts";
import { lambdaGyre } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

// Queue time (claims) and job duration (finishes) are recorded here: emitted after each request.
export const handler = withEventMetrics(handle(createApp(lambdaGyre())));
