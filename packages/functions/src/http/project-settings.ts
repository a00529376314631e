/**
 * A project's advanced settings in CircleCI's shapes (core/src/project/settings.ts): API v2's
 * `GET|PATCH /project/{slug}/settings` (`{advanced: {...}}`) and v1.1's
 * `GET|PUT /project/{vcs}/{org}/{repo}/settings` (`{feature_flags: {...}}`, as scripts set
 * `autocancel-builds`). Reading takes view permission on the project, changing admin; a change
 * is an audit record (`project.settings.update`).
 */
import { getProject, updateProjectSettings } from "@gyre/core/project/index";
import {
  AdvancedSettingsBody,
  advancedSettingsJson,
  FeatureFlagsBody,
  featureFlagsJson,
  settingsFromCircleci,
} from "@gyre/core/project/settings";
import { type Context, Hono } from "hono";
import { allow, projectFor } from "./access.ts";
import { aboutProject, auditRequest, type Env, parseBody } from "./context.ts";

const SETTINGS = "/project/:vcs/:org/:repo/settings";

async function change(c: Context<Env>, values: Record<string, boolean | undefined>, index: 1 | 2) {
  const gyre = c.get("gyre");
  const project = await projectFor(c);
  const stored = settingsFromCircleci(values, index);
  await updateProjectSettings(gyre, project.slug, stored);
  await auditRequest(c, {
    action: "project.settings.update",
    ...aboutProject(project),
    payload: { settings: values },
  });
  return getProject(gyre, project.slug);
}

export function projectSettingsRoutes(version: "v2" | "v1.1") {
  const app = new Hono<Env>();
  if (version === "v2") {
    app.get(SETTINGS, allow.project("view"), async (c) =>
      c.json(advancedSettingsJson((await projectFor(c)).settings)),
    );
    app.patch(SETTINGS, allow.project("admin"), async (c) => {
      const body = await parseBody(c, AdvancedSettingsBody);
      return c.json(advancedSettingsJson((await change(c, body.advanced, 1)).settings));
    });
  } else {
    app.get(SETTINGS, allow.project("view"), async (c) =>
      c.json({ feature_flags: featureFlagsJson((await projectFor(c)).settings) }),
    );
    app.put(SETTINGS, allow.project("admin"), async (c) => {
      const body = await parseBody(c, FeatureFlagsBody);
      return c.json({ feature_flags: featureFlagsJson((await change(c, body.feature_flags, 2)).settings) });
    });
  }
  return app;
}
