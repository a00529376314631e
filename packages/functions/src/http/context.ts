import {
  type AuditEntity,
  type AuditEvent,
  type AuditRequest,
  audit,
  projectScope,
} from "@gyre/core/audit/index";
import type { Principal, User } from "@gyre/core/auth/index";
import type { Gyre } from "@gyre/core/context";
import { badRequest, GyreError, notFound } from "@gyre/core/error";
import type { Project } from "@gyre/core/project/index";
import { NumberParam, ProjectPath, Uuid } from "@gyre/core/protocol/api";
import { parseInput, type z } from "@gyre/core/protocol/schema";
import type { Context } from "hono";

export type Env = {
  Variables: {
    gyre: Gyre;
    /** The caller (access.ts, once per request), and their user. */
    principal: Principal;
    user: User;
    /** The level the route's `allow.project` rule asks for, and whether the handler checked it. */
    projectLevel: "status" | "view" | "write" | "admin";
    projectChecked: boolean;
    /** The node a builder's credential belongs to, and whether an operator drains it. */
    nodeId: string;
    nodeDraining: boolean;
    /** False when an operator marked the node ineligible for new allocations. */
    nodeEligible: boolean;
    /** The resource classes the node declared (undefined: it declared none, and takes any). */
    nodeClasses: readonly string[] | undefined;
    /** The request as audit records name it (app.ts, once per request). */
    auditRequest: AuditRequest;
  };
};

/** The caller as an audit record's actor. */
export const auditActor = (c: Context<Env>): AuditEntity => {
  const user = c.get("user");
  const token = c.get("principal")?.token;
  if (token?.kind === "project") return { id: token.id, type: "project_token", name: token.label };
  return { id: user.id, type: "user", name: user.login };
};

/** A project as an audit record's target, in its organization. */
export const aboutProject = (project: Pick<Project, "slug" | "name" | "id" | "organizationId">) => ({
  target: { id: project.id, type: "project", name: project.name },
  scope: projectScope(project.slug, project.organizationId),
});

/** A project variable written or removed (v2 and v1.1): its name, never its value. */
export const auditEnvVar = (
  c: Context<Env>,
  project: Pick<Project, "slug" | "name" | "id" | "organizationId">,
  action: "project.env_var.create" | "project.env_var.delete",
  name: string,
) => auditRequest(c, { action, ...aboutProject(project), payload: { name } });

/** Writes an audit record of this request by its caller (core/src/audit). */
export const auditRequest = (c: Context<Env>, event: Omit<AuditEvent, "actor" | "request">) =>
  audit(c.get("gyre"), { ...event, actor: auditActor(c), request: c.get("auditRequest") });

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
export async function jsonBody(
  c: Context<Env>,
  limit = MAX_BODY_BYTES,
  /** A JSON `null` body means no fields (the spec marks the body `x-nullable`). */
  options: { nullable?: boolean } = {},
): Promise<Record<string, unknown>> {
  const raw = await rawBody(c, limit);
  if (raw.byteLength === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw).toString("utf8"));
  } catch {
    throw badRequest("Malformed JSON body.");
  }
  if (value === null && options.nullable) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw badRequest("The body must be a JSON object.");
  return value as Record<string, unknown>;
}

/**
 * The token as CircleCI clients send it: `Circle-Token`, basic auth user name, or `circle-token`;
 * or as the `nomad` CLI does (`X-Nomad-Token`, from NOMAD_TOKEN).
 */
export function tokenOf(c: Context<Env>): string | undefined {
  const header = c.req.header("circle-token") ?? c.req.header("x-nomad-token");
  if (header) return header;
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Basic "))
    return Buffer.from(auth.slice(6), "base64").toString("utf8").split(":")[0] || undefined;
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  return c.req.query("circle-token");
}

/** The JSON object body parsed by `schema`: a 400 naming each field that is wrong, 413 when too large. */
export async function parseBody<S extends z.ZodType>(
  c: Context<Env>,
  schema: S,
  limit = MAX_BODY_BYTES,
): Promise<z.output<S>> {
  return parseInput(schema, await jsonBody(c, limit), "body");
}

/** The query string (first value of each parameter) parsed by `schema`. */
export function parseQuery<S extends z.ZodType>(c: Context<Env>, schema: S): z.output<S> {
  return parseInput(schema, c.req.query(), "query");
}

/**
 * `vcs/org/repo` from the three path parameters every project route has, bounded (each part at
 * most 100 characters of A-Z a-z 0-9 _ . -): a 400 naming the part otherwise. The slug may also
 * come URL-escaped (`gh%2Forg%2Frepo`, see `normalizeProjectPath` in app.ts).
 */
export const slugOf = (c: Context<Env>): string =>
  parseInput(
    ProjectPath,
    { vcs: c.req.param("vcs"), org: c.req.param("org"), repo: c.req.param("repo") },
    "project slug",
  );

/** A per-project number (job, build) from the path: a positive integer of at most 12 digits, or 400. */
export function positiveInt(value: string | undefined, what: string): number {
  const parsed = NumberParam.safeParse(value);
  if (!parsed.success) throw badRequest(`${what} must be a positive integer (at most 12 digits).`);
  return parsed.data;
}

/** A pipeline's or workflow's id from the path: they are UUIDs, so anything else does not exist (404). */
export function pathId(c: Context<Env>, param: string, what: string): string {
  const id = c.req.param(param);
  if (!Uuid.safeParse(id).success) throw notFound(`${what} not found: its id must be a UUID.`);
  return id!;
}

/**
 * An agent request's body parsed by `schema` (400 naming the field), which must name the node
 * whose credential made the call: one node never speaks for another (403).
 */
export async function nodeBody<S extends z.ZodType<{ node_id: string }>>(
  c: Context<Env>,
  schema: S,
  what: string,
  limit = MAX_BODY_BYTES,
): Promise<z.output<S>> {
  const body = parseInput(schema, await jsonBody(c, limit), what);
  const nodeId = c.get("nodeId");
  if (body.node_id !== nodeId)
    throw new GyreError(
      "forbidden",
      `This request names node ${body.node_id}, but its credential is node ${nodeId}'s.`,
    );
  return body;
}
