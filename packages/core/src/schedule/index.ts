/** Schedules: what they are and how they are kept (model.ts), and the scheduler's pass (fire.ts). */
export * from "./fire.ts";
export * from "./model.ts";
