/**
 * Dispatch: from a queued job to a finished one (DESIGN.md "Dispatch, in order", steps 3-6),
 * by concern: executions (execution.ts), an allocation's life on a builder (allocation.ts),
 * finalize (finalize.ts), advancing a workflow (advance.ts), the reconciler (reconcile.ts).
 */
export * from "./advance.ts";
export * from "./allocation.ts";
export * from "./execution.ts";
export * from "./finalize.ts";
export * from "./reconcile.ts";
