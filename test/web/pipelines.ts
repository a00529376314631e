/**
 * Pipelines, workflows and jobs in the browser: sign in, a triggered pipeline going live to
 * success, a failed job opened on its failed step with a line linked, search, raw downloads,
 * ANSI colors, approve, cancel, rerun, a live tail that resumes after the network drops, every
 * `web_url` and `build_url` opening its page, and axe-core on each page.
 */
import { readFileSync } from "node:fs";
import { issueToken } from "@gyre/core/auth/tokens";
import { createUser } from "@gyre/core/auth/users";
import { readSettings, updateSettings } from "@gyre/core/settings/index";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { outputsByName, runPipeline, trigger, waitFor } from "../support.ts";
import { addProject, pushed, web } from "./context.ts";

type Item = Record<string, unknown>;

const CONFIG = {
  app: `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Colors
          command: printf '\\033[31mred line\\033[0m\\nplain line\\n'
      - run:
          name: Count
          command: for i in $(seq 1 300); do echo "count $i"; done
  fails:
    machine: true
    steps:
      - run:
          name: Prepare
          command: echo prepared
      - run:
          name: Break
          command: echo first; echo second; echo "needle here"; exit 3
workflows:
  main:
    jobs: [build, fails]
`,
  slow: `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Slow
          command: sleep 4; echo slow done
workflows:
  main:
    jobs: [build]
`,
  ticks: `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Ticks
          command: for i in $(seq 1 40); do echo "tick $i"; sleep 0.15; done
workflows:
  main:
    jobs: [build]
`,
  approve: `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo built
  deploy:
    machine: true
    steps:
      - run: echo deployed
workflows:
  release:
    jobs:
      - build
      - hold:
          type: approval
          requires: [build]
      - deploy:
          requires: [hold]
`,
  results: `version: 2.1
jobs:
  tested:
    machine: true
    steps:
      - run:
          name: Results
          command: |
            mkdir -p results out
            printf '%s' '<testsuite name="math" tests="2" failures="1"><testcase classname="math" name="adds" time="0.1"/><testcase classname="math" name="divides" file="math.test.js" time="0.2"><failure message="expected 2, got 3">AssertionError: expected 2, got 3</failure></testcase></testsuite>' > results/junit.xml
            echo "the report" > out/report.txt
      - store_test_results:
          path: results
      - store_artifacts:
          path: out
  split:
    machine: true
    parallelism: 2
    steps:
      - run:
          name: Which node
          command: echo "this is node $CIRCLE_NODE_INDEX"
workflows:
  main:
    jobs: [tested, split]
`,
  hostile: `version: 2.1
jobs:
  noisy:
    machine: true
    steps:
      - run:
          name: Hostile
          command: |
            for i in $(seq 1 30000); do printf '\\033[1mX'; done; echo
            printf '\\033]8;;javascript:alert(1)\\007click\\033]8;;\\007 <b>not bold</b>\\n'
            exit 1
workflows:
  main:
    jobs: [noisy]
`,
  cancel: `version: 2.1
jobs:
  wait:
    machine: true
    steps:
      - run:
          name: Wait
          command: sleep 120
workflows:
  main:
    jobs: [wait]
`,
};

async function signedIn(path = "/") {
  const { context, page } = await newPage(web().browser, web().url);
  await signIn(page, web().adminToken, path);
  return { context, page };
}

const jobDetails = async (slug: string, number: number) =>
  (await web().client.get(`/api/v2/project/${slug}/job/${number}`)).body as Item;

/** The row of a step's header in the output viewer. */
const stepHeader = (page: Page, name: string) =>
  page.locator(".step-row").filter({ has: page.getByRole("button", { name }) });

async function expectNoSeriousViolations(page: Page) {
  expect(await axeCheck(page)).toEqual([]);
}

describe("pipelines, workflows and jobs in the browser", () => {
  let app: Awaited<ReturnType<typeof runPipeline>>;

  const repos: Record<string, Awaited<ReturnType<typeof addProject>>> = {};
  beforeAll(async () => {
    await Promise.all(
      Object.keys(CONFIG).map(async (name) => {
        repos[name] = await addProject(`gh/web/${name}`, CONFIG[name as keyof typeof CONFIG]);
      }),
    );
    app = await runPipeline(web().client, "gh/web/app");
  }, 120_000);

  it("signs in with a personal token; a wrong token is refused with the API's reason and no session", async () => {
    const { context, page } = await newPage(web().browser, web().url);
    await page.goto("/");
    await page.getByLabel("Personal API token").fill("gyre_not-a-token");
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/token/i);
    expect((await context.cookies()).map((c) => c.name)).not.toContain("gyre_session");
    await expectNoSeriousViolations(page);
    await screenshot(page, "sign-in");
    await page.getByLabel("Personal API token").fill(web().adminToken);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Personal API token").waitFor();
    await context.close();
  });

  it("shows a pipeline triggered from the page going live from running to success without a reload", async () => {
    const { context, page } = await signedIn("/pipelines/gh/web/slow");
    await page.getByText("Trigger pipeline").click();
    await page
      .getByRole("form", { name: "Trigger pipeline" })
      .getByRole("button", { name: "Trigger" })
      .click();
    await page.waitForURL(/\/pipelines\/gh\/web\/slow\/1$/);
    const chip = page.getByRole("link", { name: /^build / }).locator(".chip");
    await expect.poll(() => chip.getAttribute("data-status"), { timeout: 30_000 }).toBe("running");
    await expect.poll(() => chip.getAttribute("data-status"), { timeout: 30_000 }).toBe("success");
    await page.goto("/");
    await page.getByRole("article", { name: "Pipeline 1 of gh/web/slow" }).waitFor();
    await expectNoSeriousViolations(page);
    await screenshot(page, "pipelines");
    await context.close();
  });

  it("shows a pipeline a GitHub push made on the pipelines page, going live to success", async () => {
    const { context, page } = await signedIn("/");
    const repo = repos.slow!;
    await pushed("gh/web/slow", repo.webhookSecret, repo.head);
    const row = page.getByRole("article", { name: "Pipeline 2 of gh/web/slow" });
    await row.waitFor({ timeout: 30_000 });
    expect(await row.locator(".when").textContent()).toMatch(/webhook/);
    const chip = row.getByRole("link", { name: /^build / }).locator(".chip");
    await expect.poll(() => chip.getAttribute("data-status"), { timeout: 30_000 }).toBe("success");
    await context.close();
  });

  it("filters a project's pipelines by branch, and drops the branch for only mine (which lists by who triggered)", async () => {
    const { context, page } = await signedIn("/pipelines/gh/web/slow?branch=nope");
    await page.getByText("No pipelines on nope yet.").waitFor();
    expect(await page.getByRole("textbox", { name: "Branch" }).inputValue()).toBe("nope");
    await page.getByRole("checkbox", { name: "Only mine" }).check();
    await page.waitForURL(`${web().url}/pipelines/gh/web/slow?mine=true`);
    expect(await page.getByRole("textbox", { name: "Branch" }).count()).toBe(0);
    await page.getByRole("article", { name: "Pipeline 1 of gh/web/slow" }).waitFor();
    await page.getByRole("checkbox", { name: "Only mine" }).uncheck();
    await page.waitForURL(`${web().url}/pipelines/gh/web/slow`);
    await page.getByRole("article", { name: "Pipeline 1 of gh/web/slow" }).waitFor();
    await context.close();
  });

  it("opens a failed job on its failed step, the others folded; a line's link opens the page at that line", async () => {
    const fails = app.byName.fails!;
    const details = await jobDetails("gh/web/app", fails.job_number as number);
    const { context, page } = await signedIn(new URL(details.web_url as string).pathname);
    await page.getByRole("heading", { name: /fails/ }).waitFor();
    await expect
      .poll(() => page.getByRole("button", { name: "Break" }).getAttribute("aria-expanded"))
      .toBe("true");
    expect(await page.getByRole("button", { name: "Prepare" }).getAttribute("aria-expanded")).toBe("false");
    await expect.poll(() => stepHeader(page, "Break").textContent()).toContain("exit 3");
    await page.getByText("needle here").waitFor();
    // A job that had ended when the page opened is read from its start, not followed to its end.
    expect(await page.getByRole("button", { name: "Follow", exact: true }).getAttribute("aria-pressed")).toBe(
      "false",
    );

    const link = page.getByRole("link", { name: "Line 3 of Break" });
    await link.click();
    const anchor = new URL(page.url()).hash;
    expect(anchor).toMatch(/^#s\d+-L3$/);
    // The linked line, opened fresh: highlighted and in view.
    await page.goto(page.url());
    const row = page.locator(`[data-line="${anchor.slice(1)}"]`);
    await expect.poll(() => row.getAttribute("class")).toContain("highlight");
    expect(await row.textContent()).toContain("needle here");
    await expect.poll(() => row.isVisible()).toBe(true);
    await expectNoSeriousViolations(page);
    await screenshot(page, "job-failed");
    await context.close();
  });

  it("searches the output: matches counted and marked, Next moves to the following one", async () => {
    const build = app.byName.build!;
    const { context, page } = await signedIn(
      `/pipelines/gh/web/app/1/workflows/${app.workflow.id}/jobs/${build.job_number}`,
    );
    await page.getByRole("button", { name: "Count" }).waitFor();
    await page.getByLabel("Search output").fill("count 29");
    // count 29, count 290 ... count 299: eleven lines, the Count step unfolded to the first.
    await expect.poll(() => page.locator(".toolbar .count").textContent()).toBe("1 of 11");
    await page.locator("mark", { hasText: "count 29" }).first().waitFor();
    expect(await page.getByRole("button", { name: "Count" }).getAttribute("aria-expanded")).toBe("true");
    await page.getByRole("button", { name: "Next match" }).click();
    await expect.poll(() => page.locator(".toolbar .count").textContent()).toBe("2 of 11");
    expect(await page.locator(".row.highlight").textContent()).toContain("count 290");
    await page.getByLabel("Search output").fill("no such text");
    await expect.poll(() => page.locator(".toolbar .count").textContent()).toBe("No matches");
    await context.close();
  });

  it("colors ANSI output and offers timestamps per line", async () => {
    const build = app.byName.build!;
    const { context, page } = await signedIn(
      `/pipelines/gh/web/app/1/workflows/${app.workflow.id}/jobs/${build.job_number}`,
    );
    await page.getByRole("button", { name: "Colors" }).click();
    const red = page.locator(".ansi-red-fg", { hasText: "red line" });
    await red.waitFor();
    expect(await page.locator(".row.line", { hasText: "plain line" }).locator(".ansi-red-fg").count()).toBe(
      0,
    );
    expect(await page.locator(".row.line .ts").count()).toBe(0);
    await page.getByRole("button", { name: "Timestamps" }).click();
    await expect
      .poll(async () => (await page.locator(".row.line .ts").first().textContent()) ?? "")
      .toMatch(/^\d\d:\d\d:\d\d$/);
    await context.close();
  });

  it("downloads a step's raw output and the whole job's", async () => {
    const fails = app.byName.fails!;
    const { context, page } = await signedIn(
      `/pipelines/gh/web/app/1/workflows/${app.workflow.id}/jobs/${fails.job_number}`,
    );
    await page.getByRole("button", { name: "Break" }).waitFor();
    const [step] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Raw output of Break" }).click(),
    ]);
    // Exactly what the API stores for the step (its output, then the agent's exit line).
    const stored = await outputsByName(web().client, "gh/web/app", fails.job_number as number);
    expect(stored.Break).toMatch(/^first\nsecond\nneedle here\n/);
    expect(readFileSync((await step.path())!, "utf8")).toBe(stored.Break);
    const [whole] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download raw output" }).click(),
    ]);
    expect(whole.suggestedFilename()).toBe(`gh-web-app-${fails.job_number}.txt`);
    const text = readFileSync((await whole.path())!, "utf8");
    expect(text).toContain(`==> Prepare (success, exit 0)\n${stored.Prepare}`);
    expect(text).toContain(`==> Break (failed, exit 3)\n${stored.Break}`);
    await context.close();
  });

  it("approves a job on hold from the workflow graph; the rest of the workflow runs", async () => {
    const { id } = await trigger(web().client, "gh/web/approve");
    const workflow = await waitFor("the approval to be on hold", async () => {
      const [w] = (await web().client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
      return w?.status === "on_hold" ? w : undefined;
    });
    const { context, page } = await signedIn(`/pipelines/gh/web/approve/1/workflows/${workflow.id}`);
    await page.locator('[data-job="deploy"]').waitFor();
    expect(await page.locator(".graph .edges path").count()).toBe(2);
    await expectNoSeriousViolations(page);
    await screenshot(page, "workflow-on-hold");
    await page.getByRole("button", { name: "Approve hold" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).locator(".chip").textContent(), { timeout: 30_000 })
      .toBe("success");
    const jobs = (await web().client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
    expect(Object.fromEntries(jobs.map((j) => [j.name, j.status]))).toEqual({
      build: "success",
      hold: "success",
      deploy: "success",
    });
    await context.close();
  });

  it("cancels a running workflow from its page", async () => {
    const { id } = await trigger(web().client, "gh/web/cancel");
    const workflow = await waitFor("the job to run", async () => {
      const [w] = (await web().client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
      if (!w) return undefined;
      const [job] = (await web().client.get(`/api/v2/workflow/${w.id}/job`)).body.items!;
      return job?.status === "running" ? w : undefined;
    });
    const { context, page } = await signedIn(`/pipelines/gh/web/cancel/1/workflows/${workflow.id}`);
    await page.getByRole("button", { name: "Cancel workflow" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).locator(".chip").textContent(), { timeout: 30_000 })
      .toBe("canceled");
    expect((await web().client.get(`/api/v2/workflow/${workflow.id}`)).body.status).toBe("canceled");
    await context.close();
  });

  it("reruns a workflow from failed: the page moves to the new workflow, which reruns only the failed job", async () => {
    const { context, page } = await signedIn(`/pipelines/gh/web/app/1/workflows/${app.workflow.id}`);
    await page.getByRole("button", { name: "Rerun from failed" }).click();
    await page.waitForURL(
      (url) => url.pathname.includes("/workflows/") && !url.pathname.endsWith(app.workflow.id as string),
    );
    const rerunId = new URL(page.url()).pathname.split("/").pop()!;
    const jobs = await waitFor("the rerun to settle", async () => {
      const items = (await web().client.get(`/api/v2/workflow/${rerunId}/job`)).body.items!;
      return items.length > 0 &&
        items.every((j) => !["queued", "running", "blocked"].includes(j.status as string))
        ? items
        : undefined;
    });
    // The job that succeeded is carried over (not run again); the failed one ran again.
    const byName = Object.fromEntries(jobs.map((j) => [j.name as string, j]));
    expect(byName.build!.job_number).toBe(app.byName.build!.job_number);
    expect(byName.fails!.job_number).not.toBe(app.byName.fails!.job_number);
    await page.locator('[data-job="fails"]').getByText("failed").waitFor();
    await context.close();
  });

  it("follows a running job's output live and resumes after the network drops, with every line once", async () => {
    const { context, page } = await signedIn("/pipelines/gh/web/ticks");
    await trigger(web().client, "gh/web/ticks");
    const job = await waitFor("the job to start", async () => {
      const d = await jobDetails("gh/web/ticks", 1);
      return d.status === "running" ? d : undefined;
    });
    await page.goto(new URL(job.web_url as string).pathname);
    // Seen to time out once in a full run and never alone: what the page showed then is kept.
    await page
      .locator(".row.line", { hasText: "tick 2" })
      .waitFor()
      .catch(async (error) => {
        await screenshot(page, "job-live-timeout");
        const shown = ((await page.locator("body").textContent()) ?? "").slice(0, 2000);
        throw new Error(`${(error as Error).message}\nThe page showed:\n${shown}`);
      });
    expect(
      await page
        .getByRole("status")
        .filter({ hasText: /Live|Reconnecting/ })
        .textContent(),
    ).toBe("Live");
    // A running job is followed to its end.
    expect(await page.getByRole("button", { name: "Follow", exact: true }).getAttribute("aria-pressed")).toBe(
      "true",
    );
    // The network drops for the output reads: the page says so, then picks up where it was.
    await page.route("**/output/**", (route) => route.abort("internetdisconnected"));
    await page.getByText("Reconnecting…").waitFor();
    await page.unroute("**/output/**");
    await page.getByRole("status").filter({ hasText: "Complete" }).waitFor({ timeout: 30_000 });
    // Following: the last line is in view, numbered 40 — nothing was shown twice or lost.
    const last = page.locator(".row.line", { hasText: /^40tick 40$/ });
    await last.waitFor();
    expect(await last.getByRole("link").textContent()).toBe("40");
    expect(await page.locator(".row.line", { hasText: "tick 41" }).count()).toBe(0);
    await screenshot(page, "job-live");
    await context.close();
  });

  it("shows tests failures first with their messages, artifacts as links, and is driven by the keyboard", async () => {
    const run = await runPipeline(web().client, "gh/web/results");
    const tested = run.byName.tested!;
    const { context, page } = await signedIn(
      `/pipelines/gh/web/results/1/workflows/${run.workflow.id}/jobs/${tested.job_number}`,
    );
    // The tabs take the arrow keys, as a tab list does.
    await page.getByRole("tab", { name: "Steps" }).focus();
    await page.keyboard.press("ArrowRight");
    await expect
      .poll(() => page.getByRole("tab", { name: "Tests" }).getAttribute("aria-selected"))
      .toBe("true");
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe("Tests");
    const items = page.locator(".tests > li");
    await items.first().waitFor();
    expect(await items.count()).toBe(2);
    expect(await items.first().textContent()).toContain("divides");
    expect(await items.first().locator(".test-message").textContent()).toContain("expected 2, got 3");
    expect(await items.first().textContent()).toContain("math.test.js");
    await expectNoSeriousViolations(page);
    await screenshot(page, "job-tests");

    await page.getByRole("tab", { name: "Artifacts" }).click();
    const artifact = page.getByRole("link", { name: "out/report.txt" });
    await artifact.waitFor();
    const href = (await artifact.getAttribute("href"))!;
    // The link opens with the browser's session (no token in it) through the content-type policy.
    expect(href).not.toContain("token");
    const opened = await context.request.get(href);
    expect([opened.status(), await opened.text()]).toEqual([200, "the report\n"]);
    await context.close();
  });

  it("shows each parallel run's output, chosen by node", async () => {
    const run = await runPipeline(web().client, "gh/web/results");
    const split = run.byName.split!;
    const path = `/pipelines/gh/web/results/${run.workflow.pipeline_number}/workflows/${run.workflow.id}/jobs/${split.job_number}`;
    const { context, page } = await signedIn(path);
    await page
      .getByRole("navigation", { name: "Parallel runs" })
      .getByRole("link", { name: /Node 1/ })
      .click();
    await page.getByRole("button", { name: "Which node" }).click();
    await page.locator(".row.line", { hasText: "this is node 1" }).waitFor();
    expect(new URL(page.url()).searchParams.get("node")).toBe("1");
    await page
      .getByRole("navigation", { name: "Parallel runs" })
      .getByRole("link", { name: /Node 0/ })
      .click();
    await page.getByRole("button", { name: "Which node" }).click();
    await page.locator(".row.line", { hasText: "this is node 0" }).waitFor();
    expect(await page.locator(".row.line", { hasText: "this is node 1" }).count()).toBe(0);

    // Resources: each run with the builder node it ran on, by the name the Nomad API gives it.
    const nodes = (await web().client.get("/v1/nodes")).body as unknown as { ID: string; Name: string }[];
    const details = (await web().client.get(`/api/v2/project/gh/web/results/job/${split.job_number}`)).body;
    await page.getByRole("tab", { name: "Resources" }).click();
    const rows = page.getByRole("table", { name: "Runs" }).locator("tbody tr");
    await rows.first().waitFor();
    const cells = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent)),
    );
    const runs = details.parallel_runs as { node: { id: string } }[];
    const nameOf = (index: number) => nodes.find((n) => n.ID === runs[index]!.node.id)!.Name;
    expect(cells).toEqual([
      ["node 0", "success", nameOf(0)],
      ["node 1", "success", nameOf(1)],
    ]);

    // The workflow's graph shows the job's parallelism on its card.
    await page.goto(`/pipelines/gh/web/results/${run.workflow.pipeline_number}/workflows/${run.workflow.id}`);
    const card = page.locator('[data-job="split"]');
    await card.waitFor();
    expect(await card.locator(".parallelism").textContent()).toBe("×2 parallel runs");
    await context.close();
  });

  it("draws a hostile line cut short, never as markup or a link, and stays responsive", async () => {
    const run = await runPipeline(web().client, "gh/web/hostile");
    const noisy = run.byName.noisy!;
    const { context, page } = await signedIn(
      `/pipelines/gh/web/hostile/1/workflows/${run.workflow.id}/jobs/${noisy.job_number}`,
    );
    // The failed step opens by itself: 30,000 bold codes draw 10,000 characters and say the rest.
    const first = page.locator('[data-line$="-L1"]');
    await first.locator(".cut").waitFor();
    expect(await first.locator(".cut").textContent()).toContain("20,000 more characters");
    expect(await first.locator(".ansi-bold").count()).toBe(1);
    const second = page.locator('[data-line$="-L2"]');
    expect(await second.textContent()).toContain("click <b>not bold</b>");
    expect(await second.locator(".text a, .text b").count()).toBe(0);
    // Still answering: the search box takes input and finds the line.
    await page.getByLabel("Search output").fill("not bold");
    await expect.poll(() => page.locator(".toolbar .count").textContent()).toBe("1 of 1");
    await context.close();
  });

  it("deletes an ended build for an administrator, after a confirm step; the page moves to its workflow", async () => {
    const run = await runPipeline(web().client, "gh/web/hostile");
    const noisy = run.byName.noisy!;
    const workflowPath = `/pipelines/gh/web/hostile/${run.workflow.pipeline_number}/workflows/${run.workflow.id}`;
    const { context, page } = await signedIn(`${workflowPath}/jobs/${noisy.job_number}`);
    await page.getByRole("button", { name: /^Delete build/ }).click();
    // Asked first, naming the build: nothing is gone yet.
    await page
      .getByText(
        `Delete build noisy #${noisy.job_number}, with its output, artifacts and test results (its workflow keeps its status, and can no longer be rerun)?`,
      )
      .waitFor();
    expect((await jobDetails("gh/web/hostile", noisy.job_number as number)).status).toBe("failed");
    await page.getByRole("button", { name: /^Yes, delete build/ }).click();
    await page.waitForURL(`${web().url}${workflowPath}`);
    const gone = await web().client.get(`/api/v2/project/gh/web/hostile/job/${noisy.job_number}`);
    expect(gone.status).toBe(404);
    // The workflow keeps its failure: deleting the failed build does not make it pass.
    await page.getByRole("heading", { level: 1 }).getByText("failed").waitFor();
    expect((await web().client.get(`/api/v2/workflow/${run.workflow.id}`)).body.status).toBe("failed");
    await context.close();
  });

  it("offers a user who may only view a project no trigger, approve, cancel or rerun", async () => {
    const gyre = web().runtime.gyre;
    const viewer = await createUser(gyre, { login: "web-viewer" });
    const { token } = await issueToken(gyre, viewer.id, "browser");
    const before = (await readSettings(gyre)).default_project_permission;
    await updateSettings(gyre, { default_project_permission: "view" });
    try {
      const { context, page } = await newPage(web().browser, web().url);
      await signIn(page, token, "/pipelines/gh/web/app");
      await page.getByRole("article", { name: "Pipeline 1 of gh/web/app" }).waitFor();
      expect(await page.getByText("Trigger pipeline").count()).toBe(0);
      await page.goto(`/pipelines/gh/web/app/1/workflows/${app.workflow.id}`);
      await page.locator('[data-job="fails"]').waitFor();
      expect(await page.getByRole("button", { name: /Rerun/ }).count()).toBe(0);
      expect(await page.getByRole("checkbox").count()).toBe(0);
      // Nor a build delete on an ended job (administrators only).
      await page.goto(
        `/pipelines/gh/web/app/1/workflows/${app.workflow.id}/jobs/${app.byName.fails!.job_number}`,
      );
      await page.getByRole("heading", { name: /^fails/ }).waitFor();
      expect(await page.getByRole("button", { name: /Delete build/ }).count()).toBe(0);
      // The admin is offered them on the same page.
      const admin = await signedIn(`/pipelines/gh/web/app/1/workflows/${app.workflow.id}`);
      await admin.page.getByRole("button", { name: "Rerun workflow" }).waitFor();
      await admin.context.close();
      await context.close();
    } finally {
      await updateSettings(gyre, { default_project_permission: before });
    }
  });

  it("opens the page each web_url and build_url of the API names", async () => {
    const build = app.byName.build!;
    const v2 = await jobDetails("gh/web/app", build.job_number as number);
    const v1 = (await web().client.get(`/api/v1.1/project/gh/web/app/${build.job_number}`)).body;
    expect(v1.build_url).toBe(v2.web_url);
    const { context, page } = await signedIn(new URL(v2.web_url as string).pathname);
    await page.getByRole("heading", { name: new RegExp(`build #${build.job_number}`) }).waitFor();
    await page.getByRole("link", { name: "#1" }).click();
    await page.getByRole("heading", { name: "gh/web/app pipeline #1" }).waitFor();
    await expectNoSeriousViolations(page);
    await screenshot(page, "pipeline");
    await context.close();
  });
});
