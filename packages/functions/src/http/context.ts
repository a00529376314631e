import type { User } from "@gyre/core/auth/index";
import { authenticate } from "@gyre/core/auth/index";
import type { Gyre } from "@gyre/core/context";
import { badRequest, GyreError } from "@gyre/core/error";
import type { Context, MiddlewareHandler } from "hono";

export type Env = { Variables: { gyre: Gyre; user: User } };

/** Default cap on JSON request bodies. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The raw body, refused with 413 past `limit` bytes. */
export async function rawBody(c: Context<Env>, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  const tooLarge = () => new GyreError("payload_too_large", `Request body is larger than ${limit} bytes.`);
  if (Number(c.req.header("content-length") ?? "0") > limit) throw tooLarge();
  // Counted while it arrives: a body sent without Content-Length (chunked) is refused as soon as
  // it passes the limit, never held in memory whole first.
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** The JSON object body: 400 for malformed JSON or a non-object, 413 when too large. */
export async function jsonBody(c: Context<Env>, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const raw = await rawBody(c, limit);
  if (raw.byteLength === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw).toString("utf8"));
  } catch {
    throw badRequest("Malformed JSON body.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw badRequest("The body must be a JSON object.");
  return value as Record<string, unknown>;
}

/** The token as CircleCI clients send it: `Circle-Token`, basic auth user name, or `circle-token`. */
export function tokenOf(c: Context<Env>): string | undefined {
  const header = c.req.header("circle-token");
  if (header) return header;
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Basic "))
    return Buffer.from(auth.slice(6), "base64").toString("utf8").split(":")[0] || undefined;
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  return c.req.query("circle-token");
}

/**
 * Authenticates the caller. By default a builder's token is refused: builders may call the
 * agent endpoints and nothing else (they hold no rights to projects' data).
 */
export function requireUser(
  check: (user: User) => boolean = (user) => !user.builder,
  denied = "You are not allowed to do this.",
): MiddlewareHandler<Env> {
  return async (c, next) => {
    const user = await authenticate(c.get("gyre"), tokenOf(c));
    if (!check(user)) throw new GyreError("forbidden", denied);
    c.set("user", user);
    await next();
  };
}

/** `vcs/org/repo` from the three path parameters every project route has. */
export const slugOf = (c: Context<Env>) =>
  `${c.req.param("vcs")}/${c.req.param("org")}/${c.req.param("repo")}`;

export function positiveInt(value: string | undefined, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw badRequest(`${what} must be a positive integer.`);
  return n;
}
