/**
 * Gyre's own endpoints (no CircleCI equivalent): project registration and listing; builder nodes
 * (list, revoke a node's credential; admins only).
 */
import { reconcile } from "@gyre/core/dispatch/index";
import {
  drainNode,
  isDraining,
  listNodes,
  type Node,
  revokeNode,
  schedulingEligibility,
  toWire,
} from "@gyre/core/node/index";
import { createProject, listProjects, projectJson, slugForRepo } from "@gyre/core/project/index";
import { CreateProjectBody, NodeDrainBody, ProjectSlug } from "@gyre/core/protocol/api";
import { Ids, parseInput } from "@gyre/core/protocol/schema";
import { Hono } from "hono";
import { type Env, parseBody, requireUser } from "./context.ts";

export function adminRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get("/projects", async (c) => c.json({ items: (await listProjects(c.get("gyre"))).map(projectJson) }));

  app.post(
    "/projects",
    requireUser((u) => u.admin && !u.builder, "Only an admin can add projects."),
    async (c) => {
      const body = await parseBody(c, CreateProjectBody);
      // A slug derived from the URL is bounded like a given one: every project can be addressed.
      const slug =
        body.slug ??
        parseInput(
          ProjectSlug,
          slugForRepo(body.repo_url),
          "slug (derived from repo_url: give one with slug)",
        );
      const { project, webhookSecret } = await createProject(c.get("gyre"), {
        repoUrl: body.repo_url,
        slug,
        defaultBranch: body.default_branch,
      });
      return c.json({ ...projectJson(project), webhook_secret: webhookSecret }, 201);
    },
  );

  const adminOnly = requireUser((u) => u.admin && !u.builder, "Only an admin can manage builder nodes.");
  app.get("/nodes", adminOnly, async (c) =>
    c.json({ items: (await listNodes(c.get("gyre"))).map(nodeJson) }),
  );
  // Nomad's `node drain -enable | -disable`: body {"enable": true|false}.
  app.post("/nodes/:id/drain", adminOnly, async (c) => {
    const id = parseInput(Ids.node, c.req.param("id"), "node id");
    const body = await parseBody(c, NodeDrainBody);
    const deadlineMs = body.deadline_seconds === undefined ? undefined : body.deadline_seconds * 1000;
    return c.json(nodeJson(await drainNode(c.get("gyre"), id, body.enable, deadlineMs)));
  });
  app.post("/nodes/:id/revoke", adminOnly, async (c) => {
    const id = parseInput(Ids.node, c.req.param("id"), "node id");
    const node = await revokeNode(c.get("gyre"), id);
    // What it runs gets a new attempt now, not at the reconciler's next pass.
    await reconcile(c.get("gyre"), { graceMs: 0 });
    return c.json(nodeJson(node));
  });

  return app;
}

/** A node as operators see it: never its credential's digest. */
const nodeJson = (n: Node) => ({
  id: n.id,
  name: n.name ?? null,
  instance_id: n.instanceId ?? null,
  iam_arn: n.iamArn ?? null,
  status: n.status,
  heartbeat_at: new Date(n.heartbeatAt).toISOString(),
  revoked_at: n.revokedAt === undefined ? null : new Date(n.revokedAt).toISOString(),
  left_at: n.leftAt === undefined ? null : new Date(n.leftAt).toISOString(),
  drain: isDraining(n),
  drained_at: n.drainedAt === undefined ? null : new Date(n.drainedAt).toISOString(),
  drain_deadline: n.drainDeadline === undefined ? null : new Date(n.drainDeadline).toISOString(),
  scheduling_eligibility: schedulingEligibility(n),
  allocations: n.allocations ?? [],
  resources: n.resources ? toWire(n.resources) : null,
  reserved: n.reserved ? toWire(n.reserved) : null,
  allocated: n.allocated ? toWire(n.allocated) : null,
  classes: n.classes ? Object.fromEntries(Object.entries(n.classes).map(([k, v]) => [k, toWire(v)])) : null,
  created_at: n.createdAt,
});
