/**
 * Gyre's own endpoints (no CircleCI equivalent): projects (add, list, read, change, remove; a
 * GitHub project's webhook and deploy key installed and removed with it, its missed pushes
 * resynced); builder nodes (list and drain: operators; revoke a node's credential: admins).
 *
 * Adding and removing a project, and changing its settings or GitHub connection, are audit
 * records (`project.create`, `project.delete`, `project.settings.update`,
 * `project.github.update`): never its token or webhook secret. An attempt GitHub refused after
 * something was written (a project added then removed again, a connection stored but not
 * installed, a removal half done) is recorded too, with `success: false` and the error.
 */
import { reconcile } from "@gyre/core/dispatch/index";
import { badRequest, GyreError } from "@gyre/core/error";
import { type Installed, installOnGithub, uninstallFromGithub } from "@gyre/core/github/repository";
import { resyncBranches } from "@gyre/core/github/resync";
import {
  drainNode,
  isDraining,
  listNodes,
  type Node,
  revokeNode,
  schedulingEligibility,
  toWire,
} from "@gyre/core/node/index";
import {
  createProject,
  deleteProject,
  GithubBody,
  getProject,
  listProjects,
  projectJson,
  SettingsBody,
  type StoredProject,
  sealGithub,
  settingsFromBody,
  settingsJson,
  slugForRepo,
  updateProjectGithub,
  updateProjectSettings,
} from "@gyre/core/project/index";
import { CreateProjectBody, NodeDrainBody, ProjectSlug } from "@gyre/core/protocol/api";
import { Ids, parseInput, z } from "@gyre/core/protocol/schema";
import { Hono } from "hono";
import { allow, authorizeProject, projectFor, visibleProjects } from "./access.ts";
import { aboutProject, auditRequest, type Env, parseBody, slugOf } from "./context.ts";

/** `POST /api/gyre/projects`: CircleCI's project fields, its settings and how it reaches GitHub. */
const AddProjectBody = CreateProjectBody.extend({
  settings: SettingsBody.optional(),
  github: GithubBody.optional(),
});

/** `PATCH /api/gyre/projects/{slug}`: the settings and GitHub fields given change. */
const ChangeProjectBody = z
  .object({ settings: SettingsBody.optional(), github: GithubBody.optional() })
  .strict();

/**
 * `DELETE /api/gyre/projects/{slug}`: no body, or `{"keep_github": true}` (as `?keep_github=true`)
 * to leave the webhook and deploy key on GitHub. Anything else is refused before anything goes.
 */
const DeleteProjectBody = z.object({ keep_github: z.boolean().optional() }).strict();
/** `POST .../github/resync` takes nothing (an empty object or no body). */
const ResyncBody = z.object({}).strict();

/** A URL as a record shows it: without a `user:password@`. */
const withoutCredentials = (url: string) => {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = "";
  parsed.password = "";
  return parsed.href;
};

/**
 * What a record says of a GitHub connection given: the fields given by name (a token or CA
 * certificates only so), the API and webhook URLs, and what was installed on GitHub.
 */
const githubAudit = (body: GithubBody, installed?: Installed) => {
  const webhookUrl = installed?.webhookUrl ?? body.webhook_url;
  return {
    given: Object.keys(body).sort(),
    ...(body.api_url !== undefined ? { api_url: body.api_url } : {}),
    ...(webhookUrl !== undefined ? { webhook_url: withoutCredentials(webhookUrl) } : {}),
    ...(installed
      ? {
          hook_id: installed.hookId,
          deploy_key_id: installed.deployKeyId,
          deploy_key_fingerprint: installed.fingerprint,
        }
      : {}),
  };
};

/** An error as a record's payload names it (as workflow.job.delete does). */
const errorOf = (error: unknown) => (error as Error).message.slice(0, 300);

const githubInput = (body: GithubBody | undefined) =>
  body && {
    token: body.token,
    apiUrl: body.api_url,
    caPem: body.ca_pem,
    webhookUrl: body.webhook_url,
  };

/** A project as Gyre's own routes answer it: CircleCI's shape, its settings, its GitHub connection. */
const gyreProjectJson = (p: StoredProject, installed?: Installed) => ({
  ...projectJson(p),
  settings: settingsJson(p.settings),
  ...(p.github
    ? {
        github: {
          api_url: p.github.apiUrl,
          has_token: p.github.hasToken,
          webhook_url: installed?.webhookUrl ?? p.github.webhookUrl ?? null,
          hook_id: installed?.hookId ?? p.github.hookId ?? null,
          deploy_key_id: installed?.deployKeyId ?? p.github.deployKeyId ?? null,
          ...(installed ? { deploy_key_fingerprint: installed.fingerprint } : {}),
        },
      }
    : {}),
});

export function adminRoutes() {
  const app = new Hono<Env>();
  app.get("/projects", allow.user(), async (c) =>
    c.json({ items: (await visibleProjects(c, await listProjects(c.get("gyre")))).map(projectJson) }),
  );

  app.post("/projects", allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, AddProjectBody);
    // A slug derived from the URL is bounded like a given one: every project can be addressed.
    const slug =
      body.slug ??
      parseInput(ProjectSlug, slugForRepo(body.repo_url), "slug (derived from repo_url: give one with slug)");
    const { project, webhookSecret } = await createProject(gyre, {
      repoUrl: body.repo_url,
      slug,
      defaultBranch: body.default_branch,
      settings: body.settings && settingsFromBody(body.settings),
      github: githubInput(body.github),
    });
    const added = (installed?: Installed) => ({
      project_slug: project.slug,
      repo_url: project.repoUrl,
      default_branch: project.defaultBranch,
      ...(body.settings ? { settings: body.settings } : {}),
      ...(body.github ? { github: githubAudit(body.github, installed) } : {}),
    });
    // A GitHub project with a token gets its webhook and deploy key now; if GitHub refuses,
    // the project is removed again (422 with GitHub's answer): nothing is left half-added.
    let installed: Installed | undefined;
    if (project.github?.hasToken) {
      try {
        installed = await installOnGithub(gyre, project.slug);
      } catch (error) {
        await deleteProject(gyre, project.slug).catch(() => undefined);
        await auditRequest(c, {
          action: "project.create",
          ...aboutProject(project),
          success: false,
          payload: { ...added(), error: errorOf(error) },
        });
        throw error;
      }
    }
    await auditRequest(c, { action: "project.create", ...aboutProject(project), payload: added(installed) });
    return c.json({ ...gyreProjectJson(project, installed), webhook_secret: webhookSecret }, 201);
  });

  const PROJECT = "/projects/:vcs/:org/:repo";

  // With the caller's own permission on it (view, write, admin): what a page may offer them.
  app.get(PROJECT, allow.project("view"), async (c) => {
    const project = await getProject(c.get("gyre"), slugOf(c));
    const permission = await authorizeProject(c, project);
    return c.json({ ...gyreProjectJson(project), permission });
  });

  // Settings and the GitHub connection; a new token or webhook URL (re)installs the hook and key.
  app.patch(PROJECT, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const body = await parseBody(c, ChangeProjectBody);
    // Everything checked before anything is written: a refused body changes nothing.
    if (body.github && project.vcsType !== "github")
      throw badRequest(`Project ${project.slug} is not a GitHub project: it has no GitHub settings.`);
    // The stored token goes only where it was given for: a new API URL needs the token again.
    if (body.github?.api_url !== undefined && body.github.token === undefined)
      throw badRequest(
        "A new github.api_url needs its github.token too: the stored token is not sent elsewhere.",
      );
    if (body.settings) {
      await updateProjectSettings(gyre, project.slug, settingsFromBody(body.settings));
      await auditRequest(c, {
        action: "project.settings.update",
        ...aboutProject(project),
        payload: { settings: body.settings },
      });
    }
    let installed: Installed | undefined;
    if (body.github) {
      await updateProjectGithub(
        gyre,
        project.slug,
        await sealGithub(gyre, project.slug, githubInput(body.github)!),
      );
      // Stored now: a hook and key GitHub then refuses leave the change made, recorded as failed.
      try {
        if (body.github.token || body.github.webhook_url)
          installed = await installOnGithub(gyre, project.slug);
      } catch (error) {
        await auditRequest(c, {
          action: "project.github.update",
          ...aboutProject(project),
          success: false,
          payload: { github: githubAudit(body.github), error: errorOf(error) },
        });
        throw error;
      }
      await auditRequest(c, {
        action: "project.github.update",
        ...aboutProject(project),
        payload: { github: githubAudit(body.github, installed) },
      });
    }
    return c.json(gyreProjectJson(await getProject(gyre, project.slug), installed));
  });

  // Removes the project (core/src/project/index.ts `deleteProject` lists what goes and what
  // stays), first its webhook and deploy key from GitHub; `?keep_github=true` leaves GitHub as it is.
  app.delete(PROJECT, allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const body = await parseBody(c, DeleteProjectBody);
    const keep = body.keep_github === true || c.req.query("keep_github") === "true";
    const about = { action: "project.delete", ...aboutProject(project) } as const;
    const asked = { project_slug: project.slug, keep_github: keep };
    // A removal that fails (GitHub's hook may be gone already, or some records) is recorded too.
    const failed = (error: unknown) =>
      auditRequest(c, { ...about, success: false, payload: { ...asked, error: errorOf(error) } });
    let github = { hook: false, deployKey: false };
    if (!keep) {
      try {
        github = await uninstallFromGithub(gyre, project.slug);
      } catch (error) {
        await failed(error);
        throw new GyreError(
          "unprocessable",
          `${(error as Error).message} Remove them on GitHub, or delete with ?keep_github=true to leave GitHub as it is.`,
        );
      }
    }
    let records: Awaited<ReturnType<typeof deleteProject>>;
    try {
      records = await deleteProject(gyre, project.slug);
    } catch (error) {
      if (!(error instanceof GyreError) || error.code !== "not_found") await failed(error);
      throw error;
    }
    const removed = {
      project: records.PROJECT ?? 0,
      env_vars: records.ENVVAR ?? 0,
      checkout_keys: records.CHECKOUTKEY ?? 0,
      ssh_keys: records.SSHKEY ?? 0,
      trigger_records: records.TRIGGER ?? 0,
      open_pull_requests: records.PULL ?? 0,
      ...Object.fromEntries(
        Object.entries(records)
          .filter(([k]) => !["PROJECT", "ENVVAR", "CHECKOUTKEY", "SSHKEY", "TRIGGER", "PULL"].includes(k))
          .map(([k, n]) => [k.toLowerCase(), n]),
      ),
    };
    const githubRemoved = { hook_removed: github.hook, deploy_key_removed: github.deployKey };
    await auditRequest(c, { ...about, payload: { ...asked, removed, github: githubRemoved } });
    return c.json({
      message: `Project ${project.slug} removed; its pipelines, workflows, jobs and their output are kept.`,
      removed,
      github: githubRemoved,
    });
  });

  // `gyre github resync <slug>`: a pipeline for each branch head GitHub's deliveries missed.
  app.post(`${PROJECT}/github/resync`, allow.project("admin"), async (c) => {
    const { slug } = await projectFor(c);
    await parseBody(c, ResyncBody);
    const result = await resyncBranches(c.get("gyre"), slug);
    return c.json({
      triggered: result.triggered.map((t) => ({ branch: t.branch, sha: t.sha, pipeline_id: t.pipelineId })),
      skipped: result.skipped,
    });
  });

  app.get("/nodes", allow.operator(), async (c) =>
    c.json({ items: (await listNodes(c.get("gyre"))).map(nodeJson) }),
  );
  // Nomad's `node drain -enable | -disable`: body {"enable": true|false}.
  app.post("/nodes/:id/drain", allow.operator(), async (c) => {
    const id = parseInput(Ids.node, c.req.param("id"), "node id");
    const body = await parseBody(c, NodeDrainBody);
    const deadlineMs = body.deadline_seconds === undefined ? undefined : body.deadline_seconds * 1000;
    return c.json(nodeJson(await drainNode(c.get("gyre"), id, body.enable, deadlineMs)));
  });
  app.post("/nodes/:id/revoke", allow.admin(), async (c) => {
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
