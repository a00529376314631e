/**
 * The one visible error type. `code` is stable and machine-readable; `message` is for the
 * user and must say what to do. The HTTP layer maps codes to status codes in one place.
 */
export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  /** It was there and is not any more, for good (output past its retention period). */
  | "gone"
  | "conflict"
  | "payload_too_large"
  /** The thing is there but will not do this now (a draining node asking for work). */
  | "locked"
  | "unprocessable"
  | "internal"
  /** Something Gyre depends on did not answer (STS, say): try again. */
  | "unavailable";

export class GyreError extends Error {
  override readonly name = "GyreError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new GyreError("bad_request", message, details);
export const notFound = (message: string) => new GyreError("not_found", message);
export const gone = (message: string) => new GyreError("gone", message);
export const unauthorized = (message = "You must log in first.") => new GyreError("unauthorized", message);
export const conflict = (message: string) => new GyreError("conflict", message);
export const forbidden = (message: string) => new GyreError("forbidden", message);
