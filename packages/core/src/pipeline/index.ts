/**
 * Pipelines, by concern: the model and its schemas (model.ts), triggers and the intake
 * (intake.ts), creation from a config (create.ts), continuation of setup pipelines
 * (continuation.ts) and reads (read.ts).
 */
export * from "./continuation.ts";
export * from "./create.ts";
export * from "./intake.ts";
export * from "./model.ts";
export * from "./read.ts";
