/** API Gateway (HTTP API) → the one HTTP app. */
import { handle } from "hono/aws-lambda";
import { createApp } from "./http/app.ts";
import { lambdaGyre } from "./lambda.ts";

export const handler = handle(createApp(lambdaGyre()));
