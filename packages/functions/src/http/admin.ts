/** Gyre's own endpoints (no CircleCI equivalent): project registration and listing. */
import { badRequest } from "@gyre/core/error";
import { createProject, listProjects, projectJson } from "@gyre/core/project/index";
import { Hono } from "hono";
import { type Env, jsonBody, requireUser } from "./context.ts";

export function adminRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get("/projects", async (c) => c.json({ items: (await listProjects(c.get("gyre"))).map(projectJson) }));

  app.post(
    "/projects",
    requireUser((u) => u.admin && !u.builder, "Only an admin can add projects."),
    async (c) => {
      const body = await jsonBody(c);
      if (typeof body.repo_url !== "string")
        throw badRequest("repo_url must be a string: a git URL or a local path.");
      for (const key of ["slug", "default_branch"] as const) {
        if (body[key] !== undefined && typeof body[key] !== "string")
          throw badRequest(`${key} must be a string.`);
      }
      const { project, webhookSecret } = await createProject(c.get("gyre"), {
        repoUrl: body.repo_url,
        slug: body.slug as string | undefined,
        defaultBranch: body.default_branch as string | undefined,
      });
      return c.json({ ...projectJson(project), webhook_secret: webhookSecret }, 201);
    },
  );

  return app;
}
