/** The state machine's Finalize task. */
import { type FinalizeInput, finalizeAllocation } from "@gyre/core/dispatch/index";
import { lambdaGyre } from "./lambda.ts";

export const handler = (input: FinalizeInput) => finalizeAllocation(lambdaGyre(), input);
