/**
 * A project's settings and insights in the browser, against the real API: an environment
 * variable added in the page (shown masked there and by the API, masked in a job's output),
 * one deleted after confirming, a context with a variable, an SSH key and a checkout key, an
 * advanced setting saved, the status badge's snippet with a new status token, what a viewer
 * and an outsider see; insights of a project with finished pipelines (summary, a chart in a
 * labelled figure, runs and jobs of a chosen workflow, the window picker); axe-core on both
 * pages, and their screenshots.
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { issueToken } from "@gyre/core/auth/index";
import { createUser } from "@gyre/core/auth/users";
import { readSettings, updateSettings } from "@gyre/core/settings/index";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { outputsByName, runPipeline, waitFor } from "../support.ts";
import { addProject, web } from "./context.ts";

const SETTINGS_SLUG = "gh/webset/app";
const INSIGHTS_SLUG = "gh/webins/app";
const SETTINGS_PAGE = `/settings/project/${SETTINGS_SLUG}`;
const INSIGHTS_PAGE = `/insights/${INSIGHTS_SLUG}`;
const SECRET = "s3cret-from-the-browser";

const SETTINGS_CONFIG = `version: 2.1
jobs:
  use:
    machine: true
    steps:
      - run:
          name: Use
          command: |
            echo "value: $WEB_SECRET"
            [ "$WEB_SECRET" = "${SECRET}" ] && echo "the job sees the real value"
workflows:
  main:
    jobs: [use]
`;

// Passes everywhere but on the branch `broken`.
const INSIGHTS_CONFIG = `version: 2.1
jobs:
  check:
    machine: true
    steps:
      - run:
          name: Check
          command: '[ "$CIRCLE_BRANCH" != broken ]'
workflows:
  main:
    jobs: [check]
`;

async function signedIn(path: string, token = web().adminToken) {
  const { context, page } = await newPage(web().browser, web().url);
  await signIn(page, token, path);
  return { context, page };
}

async function expectNoSeriousViolations(page: Page) {
  expect(await axeCheck(page)).toEqual([]);
}

const section = (page: Page, name: string) => page.getByRole("region", { name, exact: true });

/** Seconds as the insights page shows them ("7s", "1m 05s"). */
const shown = (v: number | null) =>
  v === null ? "–" : v < 60 ? `${v}s` : `${Math.floor(v / 60)}m ${String(v % 60).padStart(2, "0")}s`;

/** The median queue time (`queue_metrics`, Gyre's addition) of the insights API's item `name`. */
async function medianQueue(path: string, name: string): Promise<number | null> {
  const items = (await web().client.get(`/api/v2/insights/${path}`)).body.items as {
    name: string;
    metrics: { queue_metrics: { median: number | null } };
  }[];
  return items.find((i) => i.name === name)!.metrics.queue_metrics.median;
}

describe("project settings and insights", () => {
  /** The insights project's three pipelines (two pass on main, one fails on broken), started at once. */
  let insightsRuns: Promise<unknown>;

  beforeAll(async () => {
    await addProject(SETTINGS_SLUG, SETTINGS_CONFIG);
    const repo = await addProject(INSIGHTS_SLUG, INSIGHTS_CONFIG);
    execFileSync("git", ["branch", "broken"], { cwd: repo.path });
    const client = web().client;
    insightsRuns = (async () => {
      for (const branch of ["main", "broken", "main"]) await runPipeline(client, INSIGHTS_SLUG, branch);
      // Finalize records each run just after the statuses the API shows.
      await waitFor(
        "the insights records",
        async () =>
          (await client.get(`/api/v2/insights/${INSIGHTS_SLUG}/workflows/main?all-branches=true`)).body.items
            ?.length === 3
            ? true
            : undefined,
        60_000,
      );
    })();
    // Not awaited here: the settings tests run meanwhile; an early failure still fails the insights test.
    insightsRuns.catch(() => undefined);
  }, 60_000);

  it("adds an environment variable in a password field; the page and the API show it masked, a job gets it masked in its output", async () => {
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const form = page.getByRole("form", { name: "Add an environment variable" });
    await form.getByLabel("Name").fill("WEB_SECRET");
    expect(await form.getByLabel("Value").getAttribute("type")).toBe("password");
    await form.getByLabel("Value").fill(SECRET);
    await form.getByRole("button", { name: "Add variable" }).click();
    const table = page.getByRole("table", { name: "Environment variables" });
    const row = table.getByRole("row", { name: /WEB_SECRET/ });
    await row.waitFor();
    expect(await row.textContent()).toContain(`xxxx${SECRET.slice(-4)}`);
    await expect
      .poll(() => section(page, "Environment variables").getByRole("status").textContent())
      .toBe("Added WEB_SECRET.");
    // The form is cleared and the value is nowhere in the page.
    expect(await form.getByLabel("Value").inputValue()).toBe("");
    expect(await page.content()).not.toContain(SECRET);

    const answer = await web().client.get(`/api/v2/project/${SETTINGS_SLUG}/envvar/WEB_SECRET`);
    expect(answer).toEqual({ status: 200, body: { name: "WEB_SECRET", value: `xxxx${SECRET.slice(-4)}` } });

    const { jobs } = await runPipeline(web().client, SETTINGS_SLUG);
    expect(jobs[0]!.status).toBe("success");
    const out = await outputsByName(web().client, SETTINGS_SLUG, jobs[0]!.job_number as number);
    expect(out.Use).toBe("value: ********\nthe job sees the real value\n");
    await context.close();
  });

  it("deletes an environment variable after asking", async () => {
    expect(
      (
        await web().client.post(`/api/v2/project/${SETTINGS_SLUG}/envvar`, {
          name: "DOOMED",
          value: "gone-soon",
        })
      ).status,
    ).toBe(201);
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const table = page.getByRole("table", { name: "Environment variables" });
    await table.getByRole("row", { name: /DOOMED/ }).waitFor();
    await page.getByRole("button", { name: "Delete DOOMED" }).click();
    // Asked first: nothing is gone yet, and the confirming button has the focus.
    const yes = page.getByRole("button", { name: "Yes, delete DOOMED" });
    await expect.poll(() => yes.evaluate((el) => el === document.activeElement)).toBe(true);
    expect((await web().client.get(`/api/v2/project/${SETTINGS_SLUG}/envvar/DOOMED`)).status).toBe(200);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("button", { name: "Delete DOOMED" }).click();
    await yes.click();
    await table.getByRole("row", { name: /DOOMED/ }).waitFor({ state: "detached" });
    expect((await web().client.get(`/api/v2/project/${SETTINGS_SLUG}/envvar/DOOMED`)).status).toBe(404);
    // The other one stays.
    await table.getByRole("row", { name: /WEB_SECRET/ }).waitFor();
    await context.close();
  });

  it("creates a context of the organization and stores a variable in it, listed by name only", async () => {
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const create = page.getByRole("form", { name: "Create a context" });
    await create.getByLabel("Context name").fill("web-deploy");
    await create.getByRole("button", { name: "Create context" }).click();
    const card = page.getByRole("article", { name: "web-deploy" });
    await card.waitFor();
    const add = page.getByRole("form", { name: "Add a variable to web-deploy" });
    await add.getByLabel("Name").fill("DEPLOY_KEY");
    await add.getByLabel("Value").fill("context-secret-value");
    await add.getByRole("button", { name: "Add variable" }).click();
    await card
      .getByRole("table", { name: "Variables of web-deploy" })
      .getByRole("row", { name: /DEPLOY_KEY/ })
      .waitFor();
    expect(await page.content()).not.toContain("context-secret-value");

    const listed = (await web().client.get("/api/v2/context?owner-slug=gh/webset")).body.items!;
    expect(listed.map((c) => c.name)).toEqual(["web-deploy"]);
    const variables = (await web().client.get(`/api/v2/context/${listed[0]!.id}/environment-variable`)).body
      .items!;
    expect(variables.map((v) => v.variable)).toEqual(["DEPLOY_KEY"]);
    await context.close();
  });

  it("adds an SSH key for a host and a deploy key, each listed by its fingerprint", async () => {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const form = page.getByRole("form", { name: "Add an SSH key" });
    await form.getByLabel("Hostname").fill("deploy.example.com");
    await form.getByLabel("Private key").fill(privateKey);
    await form.getByRole("button", { name: "Add SSH key" }).click();
    const sshTable = page.getByRole("table", { name: "Additional SSH keys" });
    await sshTable.getByRole("row", { name: /deploy\.example\.com/ }).waitFor();
    const [sshKey] = (await web().client.get(`/api/v1.1/project/${SETTINGS_SLUG}/ssh-key`))
      .body as unknown as {
      hostname: string;
      fingerprint: string;
    }[];
    expect(sshKey!.hostname).toBe("deploy.example.com");
    expect(await sshTable.getByRole("row", { name: /deploy\.example\.com/ }).textContent()).toContain(
      sshKey!.fingerprint,
    );
    expect(await form.getByLabel("Private key").inputValue()).toBe("");
    expect(await page.content()).not.toContain(privateKey.split("\n")[1]!);

    await page.getByRole("button", { name: "Add deploy key" }).click();
    const checkout = page.getByRole("list", { name: "Checkout keys" });
    await checkout.getByRole("listitem").first().waitFor();
    const keys = (await web().client.get(`/api/v2/project/${SETTINGS_SLUG}/checkout-key`)).body.items!;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.type).toBe("deploy-key");
    expect(await checkout.textContent()).toContain(keys[0]!.fingerprint as string);
    // Its public key, to give the repository, is there to copy.
    expect(await page.getByLabel(`Public key ${keys[0]!.fingerprint}`).inputValue()).toBe(
      keys[0]!["public-key"],
    );
    await context.close();
  });

  it("saves an advanced setting, as the API then answers it", async () => {
    const path = `/api/v2/project/${SETTINGS_SLUG}/settings`;
    expect(((await web().client.get(path)).body.advanced as Record<string, boolean>).autocancel_builds).toBe(
      false,
    );
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const form = page.getByRole("form", { name: "Advanced settings" });
    const box = form.getByRole("checkbox", { name: "Auto-cancel redundant workflows" });
    expect(await box.isChecked()).toBe(false);
    const save = form.getByRole("button", { name: "Save settings" });
    expect(await save.isDisabled()).toBe(true);
    await box.check();
    await save.click();
    await expect
      .poll(() => section(page, "Advanced settings").getByRole("status").textContent())
      .toBe("Saved.");
    const advanced = (await web().client.get(path)).body.advanced as Record<string, boolean>;
    expect(advanced).toMatchObject({
      autocancel_builds: true,
      build_fork_prs: false,
      set_github_status: true,
    });
    await page.reload();
    await expect
      .poll(() => page.getByRole("checkbox", { name: "Auto-cancel redundant workflows" }).isChecked())
      .toBe(true);
    await context.close();
  });

  it("shows the webhook URL and the badge's Markdown, with a status token made for it that shows the badge", async () => {
    const { context, page } = await signedIn(SETTINGS_PAGE);
    const webhook = section(page, "GitHub webhook");
    expect(await webhook.getByLabel("Payload URL").inputValue()).toBe(`${web().url}/webhooks/github`);
    // Its secret is set (every project has one), and said to be shown only when the project was added.
    expect(await webhook.getByText("set", { exact: true }).count()).toBe(1);
    expect(await webhook.textContent()).toContain("never shown again");

    const badge = section(page, "Status badge");
    const markdown = badge.getByLabel("Markdown");
    expect(await markdown.inputValue()).toBe(
      `[![CircleCI](${web().url}/${SETTINGS_SLUG}.svg?circle-token=STATUS_TOKEN)](${web().url}/pipelines/${SETTINGS_SLUG})`,
    );
    // The preview is read with the session.
    const preview = badge.getByRole("img", { name: `Status badge of ${SETTINGS_SLUG}` });
    await expect
      .poll(() => preview.evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);

    await badge.getByRole("button", { name: "Create status token" }).click();
    await expect.poll(() => markdown.inputValue()).not.toContain("STATUS_TOKEN");
    const snippet = await markdown.inputValue();
    const url = /^\[!\[CircleCI\]\(([^)]+)\)\]/.exec(snippet)![1]!;
    expect(url).toMatch(new RegExp(`^${web().url}/${SETTINGS_SLUG}\\.svg\\?circle-token=gyre_[0-9a-f]+$`));
    expect(await badge.getByLabel("Image URL").inputValue()).toBe(url);
    const tokens = (await web().client.get(`/api/v1.1/project/${SETTINGS_SLUG}/token`)).body as unknown as {
      label: string;
      scope: string;
    }[];
    expect(tokens).toEqual([expect.objectContaining({ label: "status badge", scope: "status" })]);
    // The URL alone (no other credential) shows the badge: the project passed its last pipeline.
    const image = await fetch(url);
    expect(image.status).toBe(200);
    expect(image.headers.get("content-type")).toContain("image/svg+xml");
    expect(await image.text()).toContain("PASSED");

    // Every section loaded: the whole page is checked and kept for a person to look at.
    await badge.getByRole("table", { name: "Status tokens" }).waitFor();
    await section(page, "Contexts").getByRole("article").first().waitFor();
    await expectNoSeriousViolations(page);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "project-settings");
    await context.close();
  });

  it("is read only for a user who may only view the project, and not found for one who may not see it", async () => {
    const gyre = web().runtime.gyre;
    const viewer = await createUser(gyre, { login: "settings-viewer" });
    const { token } = await issueToken(gyre, viewer.id, "web");
    const before = (await readSettings(gyre)).default_project_permission;
    expect(before).toBe("none");

    const outsider = await signedIn(SETTINGS_PAGE, token);
    await outsider.page.getByRole("alert").filter({ hasText: "not found" }).waitFor();
    expect(await outsider.page.getByRole("form").count()).toBe(0);
    await outsider.context.close();

    await updateSettings(gyre, { default_project_permission: "view" });
    try {
      const { context, page } = await signedIn(SETTINGS_PAGE, token);
      await page.getByRole("note").filter({ hasText: "not change them" }).waitFor();
      await page
        .getByRole("table", { name: "Environment variables" })
        .getByRole("row", { name: /WEB_SECRET/ })
        .waitFor();
      await page.getByRole("table", { name: "Additional SSH keys" }).waitFor();
      expect(await page.getByRole("form", { name: "Add an environment variable" }).count()).toBe(0);
      expect(await page.getByRole("form", { name: "Add an SSH key" }).count()).toBe(0);
      expect(await page.getByRole("form", { name: "Create a context" }).count()).toBe(0);
      expect(await page.getByRole("button", { name: /^Delete/ }).count()).toBe(0);
      expect(await page.getByRole("button", { name: "Add deploy key" }).count()).toBe(0);
      expect(await page.getByRole("button", { name: "Create status token" }).count()).toBe(0);
      const box = page.getByRole("checkbox", { name: "Auto-cancel redundant workflows" });
      expect(await box.isChecked()).toBe(true);
      expect(await box.isDisabled()).toBe(true);
      expect(await page.getByRole("button", { name: "Save settings" }).count()).toBe(0);
      // The badge snippet is there for anyone who may view, with its placeholder.
      expect(await section(page, "Status badge").getByLabel("Markdown").inputValue()).toContain(
        "STATUS_TOKEN",
      );
      await expectNoSeriousViolations(page);
      await context.close();
    } finally {
      await updateSettings(gyre, { default_project_permission: before });
    }
  });

  it("shows insights of finished pipelines: summary, charts in labelled figures with their numbers, a workflow's runs and jobs", async () => {
    await insightsRuns;
    const { context, page } = await signedIn(INSIGHTS_PAGE);
    const summary = section(page, "Summary");
    const metrics = summary.getByLabel("Project metrics");
    await metrics.waitFor();
    expect(await metrics.textContent()).toMatch(/Total runs3/);
    // Two of the three runs passed.
    expect(await metrics.textContent()).toMatch(/Success rate67%/);

    const runsFigure = page.getByRole("figure", { name: "Runs and success rate per day" });
    await runsFigure.locator("canvas").first().waitFor();
    // (On one day, or two when the runs straddled midnight UTC.)
    expect(await runsFigure.getByRole("img").getAttribute("aria-label")).toMatch(
      /^Runs and success rate per day: 3 runs on [12] days? of 31 \(at most [23] in one day\); 2 succeeded and 1 failed, a success rate of 67%\.$/,
    );
    // The chart's numbers as a table, for anyone who does not see it: the days that had runs.
    await runsFigure.getByText("the numbers").click();
    const rows = runsFigure.getByRole("table", { name: "Runs and success rate per day" }).getByRole("row");
    await rows.nth(1).waitFor();
    const days = await Promise.all(
      (await rows.all()).slice(1).map((row) => row.getByRole("cell").allTextContents()),
    );
    expect(days.reduce((n, [runs]) => n + Number(runs), 0)).toBe(3);
    if (days.length === 1) expect(days[0]).toEqual(["3", "67%"]);
    await page.getByRole("figure", { name: "Median duration per day" }).locator("canvas").first().waitFor();

    // Queue times beside build times: a chart of each workflow's median, with its table, and a
    // column of the workflows' table; the numbers the API gives.
    const queue = await medianQueue(
      `${INSIGHTS_SLUG}/workflows?reporting-window=last-30-days&all-branches=true`,
      "main",
    );
    expect(queue).not.toBeNull();
    const queueFigure = page.getByRole("figure", { name: "Median queue time per day" });
    await queueFigure.locator("canvas").first().waitFor();
    expect(await queueFigure.getByRole("img").getAttribute("aria-label")).toMatch(
      /^Median queue time per day: main: from (\d+m )?\d+s to (\d+m )?\d+s \(median per day\)\.$/,
    );
    await queueFigure.getByText("the numbers").click();
    const queueTable = queueFigure.getByRole("table", { name: "Median queue time per day" });
    await queueTable.getByRole("columnheader", { name: "main median queue" }).waitFor();
    const queueDays = await Promise.all(
      (await queueTable.getByRole("row").all())
        .slice(1)
        .map((row) => row.getByRole("cell").allTextContents()),
    );
    expect(queueDays.length).toBe(days.length);
    for (const [cell] of queueDays) expect(cell).toMatch(/^(\d+m )?\d+s$/);
    if (queueDays.length === 1) expect(queueDays[0]).toEqual([shown(queue)]);
    const workflowTable = page.getByRole("table", { name: "Workflow metrics" });
    const workflowRow = workflowTable.getByRole("row", { name: /main/ });
    await workflowRow.waitFor();
    const headers = await workflowTable.getByRole("columnheader").allTextContents();
    expect(headers).toContain("Median queue time");
    expect(
      (await workflowRow.getByRole("cell").allTextContents())[headers.indexOf("Median queue time") - 1],
    ).toBe(shown(queue));
    await section(page, "Flaky tests").getByText("No flaky tests.").waitFor();
    await expectNoSeriousViolations(page);
    await screenshot(page, "insights");

    // One workflow: its summary, runs and jobs.
    await page.getByLabel("Workflow", { exact: true }).selectOption("main");
    await page.waitForURL(/\?workflow=main$/);
    const own = page.getByLabel("Metrics of main");
    await own.waitFor();
    expect(await own.textContent()).toMatch(/Success rate67%/);
    expect(await own.textContent()).toMatch(/Total runs3/);
    const runs = page.getByRole("table", { name: "Runs of main" });
    await expect.poll(() => runs.getByRole("row").count()).toBe(4);
    expect(
      await runs
        .getByRole("row", { name: /broken/ })
        .locator(".chip")
        .getAttribute("data-status"),
    ).toBe("failed");
    const jobs = page.getByRole("table", { name: "Job metrics" });
    const check = jobs.getByRole("row", { name: /check/ });
    await check.waitFor();
    expect(await check.getByRole("cell").allTextContents()).toEqual(
      expect.arrayContaining(["3", "1", "67%"]),
    );
    // Its jobs' queue times: a column of the jobs' table, a chart over time with its table.
    const jobQueue = await medianQueue(
      `${INSIGHTS_SLUG}/workflows/main/jobs?reporting-window=last-30-days&all-branches=true`,
      "check",
    );
    expect(jobQueue).not.toBeNull();
    const jobHeaders = await jobs.getByRole("columnheader").allTextContents();
    expect(
      (await check.getByRole("cell").allTextContents())[jobHeaders.indexOf("Median queue time") - 1],
    ).toBe(shown(jobQueue));
    expect(await own.textContent()).toContain(`Median queue time${shown(queue)}`);
    const jobQueueFigure = page.getByRole("figure", { name: "Median job queue time per day" });
    await jobQueueFigure.locator("canvas").first().waitFor();
    expect(await jobQueueFigure.getByRole("img").getAttribute("aria-label")).toMatch(
      /^Median job queue time per day: check: from (\d+m )?\d+s to (\d+m )?\d+s \(median per day\)\.$/,
    );
    await jobQueueFigure.getByText("the numbers").click();
    await jobQueueFigure
      .getByRole("table", { name: "Median job queue time per day" })
      .getByRole("columnheader", { name: "check median queue" })
      .waitFor();
    await page
      .getByRole("figure", { name: "Median job duration per day" })
      .locator("canvas")
      .first()
      .waitFor();
    // A run links to its workflow's page.
    await runs
      .getByRole("row", { name: /broken/ })
      .getByRole("link")
      .click();
    await page.waitForURL(/\/pipelines\/gh\/webins\/app\/\d+\/workflows\//);
    await page.goBack();

    // The time window is chosen the same way, and kept in the URL; the branch too.
    await page.getByLabel("Time window", { exact: true }).selectOption("last-7-days");
    await page.waitForURL(/window=last-7-days/);
    await page
      .getByRole("figure", { name: "Runs and success rate per day" })
      .locator("canvas")
      .first()
      .waitFor();
    await page.getByLabel("Branch", { exact: true }).selectOption("main");
    await page.waitForURL(/branch=main/);
    await expect
      .poll(async () => (await page.getByLabel("Metrics of main").textContent()) ?? "")
      .toMatch(/Success rate100%/);
    await expectNoSeriousViolations(page);
    await screenshot(page, "insights-workflow");
    await context.close();
  }, 120_000);

  it("loads uPlot with the insights page only, not with the first page", async () => {
    const html = await (await fetch(`${web().url}/`)).text();
    const entry = /<script[^>]+src="([^"]+)"/.exec(html)![1]!;
    const js = await (await fetch(`${web().url}${entry}`)).text();
    expect(js.length).toBeGreaterThan(1000);
    expect(js).not.toContain("u-legend");
    const preloads = [...html.matchAll(/<link[^>]+href="([^"]+\.js)"/g)].map((m) => m[1]!);
    for (const file of preloads)
      expect(await (await fetch(`${web().url}${file}`)).text()).not.toContain("u-legend");
  });
});
