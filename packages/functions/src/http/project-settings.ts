/**
 * A project's advanced settings in CircleCI's shapes (core/src/project/settings.ts): API v2's
 * `GET|PATCH /project/{slug}/settings` (`{advanced: {...}}`) and v1.1's
 * `GET|PUT /project/{vcs}/{org}/{repo}/settings` (`{feature_flags: {...}}`, as scripts set
 * `autocancel-builds`). Reading takes any user's token, changing an admin's; a change is an
 * audit record (`project.settings.update`).
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
import { aboutProject, auditRequest, type Env, parseBody, requireUser, slugOf } from "./context.ts";

const SETTINGS = "/project/:vcs/:org/:repo/settings";
const adminOnly = requireUser((u) => u.admin && !u.builder, "Only an admin can change project settings.");

async function change(c: Context<Env>, values: Record<string, boolean | undefined>, index: 1 | 2) {
  const gyre = c.get("gyre");
  const project = await getProject(gyre, slugOf(c));
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
    app.get(SETTINGS, requireUser(), async (c) =>
      c.json(advancedSettingsJson((await getProject(c.get("gyre"), slugOf(c))).settings)),
    );
    app.patch(SETTINGS, adminOnly, async (c) => {
      const body = await parseBody(c, AdvancedSettingsBody);
      return c.json(advancedSettingsJson((await change(c, body.advanced, 1)).settings));
    });
  } else {
    app.get(SETTINGS, requireUser(), async (c) =>
      c.json({ feature_flags: featureFlagsJson((await getProject(c.get("gyre"), slugOf(c))).settings) }),
    );
    app.put(SETTINGS, adminOnly, async (c) => {
      const body = await parseBody(c, FeatureFlagsBody);
      return c.json({ feature_flags: featureFlagsJson((await change(c, body.feature_flags, 2)).settings) });
    });
  }
  return app;
}
