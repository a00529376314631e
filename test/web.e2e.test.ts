/**
 * The web app in a real browser (Debian's chromium through playwright-core) against the local
 * runtime with a real builder agent: nothing is mocked. One runtime and one browser serve every
 * scenario (test/web/*.ts); each scenario signs in in a context of its own. Screenshots of the
 * main pages go to test-results/web/ for a person to look at.
 */
import { afterAll, beforeAll } from "vitest";
import { startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { launchBrowser } from "./support/browser.ts";
import { api, tempDir } from "./support.ts";
import { setWeb, web } from "./web/context.ts";
import "./web/pipelines.ts";
import "./web/project.ts";
import "./web/admin.ts";
import "./web/sign-in.ts";
import "./web/schedules.ts";
import "./web/projects.ts";
import "./web/account.ts";

beforeAll(async () => {
  const [runtime, browser] = await Promise.all([
    startLocalRuntime({ dataDir: tempDir("web"), port: 0, agents: 2 }),
    launchBrowser(),
  ]);
  setWeb({
    runtime,
    browser,
    url: runtime.url,
    adminToken: runtime.adminToken,
    client: api(runtime.url, runtime.adminToken),
  });
}, 120_000);

afterAll(async () => {
  const w = (() => {
    try {
      return web();
    } catch {
      return undefined;
    }
  })();
  await w?.browser.close();
  await w?.runtime.stop();
  setWeb(undefined);
});
