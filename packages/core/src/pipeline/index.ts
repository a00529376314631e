/**
 * Pipelines, by concern: the model and its schemas (model.ts), triggers and the intake
 * (intake.ts), creation from a config (create.ts), continuation of setup pipelines
 * (continuation.ts), reads (read.ts), the configs kept with them (config.ts) and the status a
 * branch's badge shows (status.ts).
 */
export * from "./config.ts";
export * from "./continuation.ts";
export * from "./create.ts";
export * from "./intake.ts";
export * from "./model.ts";
export * from "./read.ts";
export * from "./status.ts";
