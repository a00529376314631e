/**
 * Who may call each route, declared where the route is: every route of the app has exactly one
 * of these rules ahead of its handler (routes.test.ts enumerates the app's routes and fails on
 * one without), and docs/access.md lists them.
 *
 *   allow.anonymous(why)  no credential: the route authenticates otherwise (a webhook's
 *                         signature, a continuation key, a signed link) or is public
 *   allow.builder()       the builders' join token (registration, queue discovery)
 *   allow.node()          a registered builder node's own credential
 *   allow.operator()      an operator token or an administrator: the Nomad API, metrics
 *   allow.admin()         an administrator (personal token or session)
 *   allow.user()          any active person: their own things, and lists filtered to the
 *                         projects they may view
 *   allow.project(level)  a project permission level (status, view, write, admin): the handler
 *                         names the project (`projectFor`, `authorizeProject`) and is answered
 *                         404 when the caller may not see it, 403 when they may see it but not
 *                         do this. A route that answers without naming its project is a bug,
 *                         and answers 500 rather than leak.
 *
 * Credentials are read once per request: a token (tokenOf) or the session cookie. A request
 * made with the cookie that changes something must carry the session's `X-CSRF-Token`.
 */
import { timingSafeEqual } from "node:crypto";
import { authenticate, type Principal, SESSION_COOKIE } from "@gyre/core/auth/index";
import {
  atLeast,
  type PermissionLevel,
  type ProjectRef,
  projectPermission,
} from "@gyre/core/auth/permission";
import { forbidden, GyreError, notFound } from "@gyre/core/error";
import { authenticateNode } from "@gyre/core/node/index";
import { getProject, type StoredProject } from "@gyre/core/project/index";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { type Env, slugOf, tokenOf } from "./context.ts";

export type ProjectLevel = Exclude<PermissionLevel, "none">;

export type Rule =
  | { kind: "anonymous"; why: string }
  | { kind: "builder" }
  | { kind: "node" }
  | { kind: "operator" }
  | { kind: "admin" }
  | { kind: "user" }
  | { kind: "project"; level: ProjectLevel };

const RULE = Symbol.for("gyre.access-rule");

/** The rule a middleware declares, if it is one of `allow`'s. */
export const ruleOf = (handler: unknown): Rule | undefined =>
  (handler as { [RULE]?: Rule } | undefined)?.[RULE];

/** How a rule reads in the docs and in refusals. */
export const describeRule = (rule: Rule): string =>
  rule.kind === "project" ? `project:${rule.level}` : rule.kind;

const declare = (rule: Rule, handler: MiddlewareHandler<Env>): MiddlewareHandler<Env> =>
  Object.assign(handler, { [RULE]: rule });

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The caller, authenticated once per request (401 without a valid credential). */
export async function principalOf(c: Context<Env>): Promise<Principal> {
  const known = c.get("principal");
  if (known) return known;
  const token = tokenOf(c);
  const session = token ? undefined : getCookie(c, SESSION_COOKIE);
  const principal = await authenticate(c.get("gyre"), { token, session });
  if (principal.session && !SAFE_METHODS.has(c.req.method)) {
    const sent = Buffer.from(c.req.header("x-csrf-token") ?? "");
    const expected = Buffer.from(principal.session.csrfToken);
    if (sent.length !== expected.length || !timingSafeEqual(sent, expected))
      throw forbidden(
        "This request was made with a session cookie but without its CSRF token: send the X-CSRF-Token header that GET /api/gyre/auth/session gives.",
      );
  }
  c.set("principal", principal);
  c.set("user", principal.user);
  return principal;
}

/** A person acting as themselves: a personal token or a session (not a builder, project or operator token). */
const asPerson = (p: Principal) => !p.user.builder && (!p.token || p.token.kind === "personal");

function person(check: (p: Principal) => boolean, denied: string): MiddlewareHandler<Env> {
  return async (c, next) => {
    const principal = await principalOf(c);
    if (!check(principal))
      throw forbidden(principal.token?.kind === "project" ? PROJECT_TOKEN_DENIED : denied);
    await next();
  };
}

const PROJECT_TOKEN_DENIED =
  "A project token may only be used on its own project's routes, within its scope.";

export const allow = {
  anonymous: (why: string) => declare({ kind: "anonymous", why }, async (_c, next) => next()),

  builder: () =>
    declare(
      { kind: "builder" },
      person((p) => p.user.builder === true, "Only builder agents may call this endpoint."),
    ),

  /** A registered node's own credential (headers only: a credential in a query string ends up in access logs). */
  node: () =>
    declare({ kind: "node" }, async (c, next) => {
      const bearer = c.req.header("authorization");
      const credential =
        c.req.header("circle-token") ?? (bearer?.startsWith("Bearer ") ? bearer.slice(7) : undefined);
      const node = await authenticateNode(c.get("gyre"), credential);
      c.set("nodeId", node.id);
      c.set("nodeDraining", node.draining);
      c.set("nodeEligible", node.eligible);
      c.set("nodeClasses", node.classes);
      await next();
    }),

  operator: () =>
    declare(
      { kind: "operator" },
      person(
        // An operator token is an administrator's: it stops working when they stop being one.
        (p) => !p.user.builder && p.user.admin && (p.token?.kind === "operator" || asPerson(p)),
        "Only an operator token or an administrator may call this endpoint.",
      ),
    ),

  admin: () =>
    declare(
      { kind: "admin" },
      person((p) => asPerson(p) && p.user.admin, "Only an administrator may do this."),
    ),

  user: () =>
    declare({ kind: "user" }, person(asPerson, "Only a person's token or session may call this endpoint.")),

  project: (level: ProjectLevel) =>
    declare({ kind: "project", level }, async (c, next) => {
      const principal = await principalOf(c);
      if (principal.user.builder || principal.token?.kind === "operator")
        throw forbidden("This credential has no access to projects.");
      c.set("projectLevel", level);
      await next();
      if (!c.get("projectChecked") && c.res.status < 400)
        throw new GyreError(
          "internal",
          `Route ${c.req.method} ${c.req.routePath} answered without checking its project.`,
        );
    }),
} as const;

/**
 * Checks the caller's permission on `project` against the route's rule: 404 when they may not
 * see it (as for a project that does not exist), 403 when they may see it but not do this.
 * Answers their level.
 */
export async function authorizeProject(
  c: Context<Env>,
  project: ProjectRef,
  /** What a caller who may not see the project is told (a pipeline's id: "Pipeline ... not found"). */
  hidden = `Project ${project.slug} not found.`,
): Promise<PermissionLevel> {
  const need = c.get("projectLevel");
  if (!need)
    throw new GyreError(
      "internal",
      `Route ${c.req.routePath} checks a project but declares no project rule.`,
    );
  const principal = await principalOf(c);
  const level = await projectPermission(c.get("gyre"), principal, project);
  c.set("projectChecked", true);
  if (level === "none") throw notFound(hidden);
  if (!atLeast(level, need))
    throw forbidden(
      principal.token?.kind === "project"
        ? `This project token's scope (${principal.token.scope}) does not allow this: it needs ${need} access.`
        : `You need ${need} permission on ${project.slug} to do this (you have ${level}).`,
    );
  return level;
}

/** The project the route's path names, checked against the route's rule. */
export async function projectFor(c: Context<Env>, slug = slugOf(c)): Promise<StoredProject> {
  const project = await getProject(c.get("gyre"), slug);
  await authorizeProject(c, project);
  return project;
}

/** A project's slug as ProjectRef for checks that know only the slug (a job's, a pipeline's). */
export async function authorizeSlug(
  c: Context<Env>,
  slug: string,
  hidden?: string,
): Promise<PermissionLevel> {
  const [vcs = "", org = "", name = ""] = slug.split("/");
  const vcsType = vcs === "gh" ? "github" : vcs === "bb" ? "bitbucket" : vcs;
  return authorizeProject(c, { slug, vcsType, org, name }, hidden);
}

/** Of `projects`, those the caller may at least view: what lists show. */
export async function visibleProjects<P extends ProjectRef>(
  c: Context<Env>,
  projects: readonly P[],
): Promise<P[]> {
  const principal = await principalOf(c);
  const gyre = c.get("gyre");
  const levels = await Promise.all(projects.map((p) => projectPermission(gyre, principal, p)));
  return projects.filter((_, i) => atLeast(levels[i]!, "view"));
}
