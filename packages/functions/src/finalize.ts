/**
 * The state machine's Finalize task. A failure is logged (name and message, never the input,
 * which carries the allocation and its error) and rethrown, so the execution sees it.
 */
import { type FinalizeInput, finalizeAllocation } from "@gyre/core/dispatch/index";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

type Finalize = (input: FinalizeInput) => ReturnType<typeof finalizeAllocation>;

export function finalizeHandler(
  finalize: Finalize = (input) => finalizeAllocation(lambdaGyre(), input),
  log?: (line: string) => void,
) {
  return middy<FinalizeInput, Awaited<ReturnType<Finalize>>>()
    .use(logErrors("finalize", log))
    .handler((input) => finalize(input));
}

export const handler = withEventMetrics(finalizeHandler());
