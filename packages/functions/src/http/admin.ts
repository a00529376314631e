/** Gyre's own endpoints (no CircleCI equivalent): project registration and listing. */
import { createProject, listProjects, projectJson, slugForRepo } from "@gyre/core/project/index";
import { CreateProjectBody, ProjectSlug } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
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

  return app;
}
