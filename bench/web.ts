/**
 * The web app with real output: for jobs of 10k, 100k and 1M colored lines, the time from
 * opening the job page at its first line to that line on screen, and from opening it at its
 * last line to the scrolled-to-end view; the longest main-thread task while it loads (a frozen
 * page shows as one long task); and the JavaScript a first visit downloads (gzip). Baseline in
 * the same run: fetching the same step's raw output (the bytes alone, no page). Real chromium,
 * the local runtime, a real builder agent. Run: `npm run bench:web` (SIZES=10000,100000).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { WEB_DIST } from "../packages/web/src/build.ts";
import { launchBrowser, newPage, signIn } from "../test/support/browser.ts";
import { tempDir } from "../test/support.ts";
import { apiClient, configRepo, fmt, percentile, wall } from "./support.ts";

const SIZES = (process.env.SIZES ?? "10000,100000,1000000").split(",").map(Number);

const config = (lines: number) => `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Lines
          command: awk 'BEGIN { for (i = 1; i <= ${lines}; i++) printf "\\033[32mok\\033[0m line %d of ${lines} \\033[2m(some padding text)\\033[0m\\n", i }'
workflows:
  main:
    jobs: [build]
`;

/** The first page's JavaScript and CSS (the entry and what index.html preloads), gzip. */
function firstPageBytes() {
  const html = readFileSync(join(WEB_DIST, "index.html"), "utf8");
  const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  const sizes = files.map((f) => {
    const body = readFileSync(join(WEB_DIST, f));
    return { file: f, raw: body.length, gzip: gzipSync(body, { level: 9 }).length };
  });
  return { sizes, gzip: sizes.reduce((a, s) => a + s.gzip, 0) };
}

/** Per line: printed by the step (its own clock) to on the page (a MutationObserver's clock). */
async function liveLatency(call: ReturnType<typeof apiClient>) {
  const slug = "gh/bench/live";
  const ticks = 20;
  await call("POST", "/api/gyre/projects", {
    repo_url: await configRepo(
      tempDir("bench-web-live"),
      `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Ticks
          command: for i in $(seq 1 ${ticks}); do echo "tick $i at $(date +%s%3N)"; sleep 0.5; done
workflows:
  main:
    jobs: [build]
`,
    ),
    slug,
  });
  const { context, page } = await newPage(browser, runtime.url);
  await signIn(page, runtime.adminToken);
  await page.addInitScript(() => {
    const seen: Record<string, number> = {};
    (window as unknown as { seen: typeof seen }).seen = seen;
    new MutationObserver(() => {
      for (const row of document.querySelectorAll(".row.line .text")) {
        const m = /tick (\d+) at (\d+)/.exec(row.textContent ?? "");
        if (m && !(m[1]! in seen)) seen[m[1]!] = Date.now() - Number(m[2]);
      }
    }).observe(document, { childList: true, subtree: true, characterData: true });
  });
  await call("POST", `/api/v2/project/${slug}/pipeline`, { branch: "main" });
  let web: string | undefined;
  while (!web) {
    const d = await call<{ web_url: string; status: string }>("GET", `/api/v2/project/${slug}/job/1`).catch(
      () => undefined,
    );
    if (d?.status === "running") web = d.web_url;
    else await new Promise((r) => setTimeout(r, 100));
  }
  await page.goto(new URL(web).pathname);
  await page.getByRole("status").filter({ hasText: "Complete" }).waitFor({ timeout: 120_000 });
  const seen = await page.evaluate(() => (window as unknown as { seen: Record<string, number> }).seen);
  await context.close();
  // The first lines were printed before the page opened: only the ones it watched arrive.
  const values = Object.entries(seen)
    .filter(([n]) => Number(n) > 3)
    .map(([, ms]) => ms);
  return {
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    max: Math.max(...values),
    count: values.length,
  };
}

/** What the page fetched since its navigation began, in order: where the first line's time went. */
async function waterfall(page: import("playwright-core").Page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const shown = [
      { what: "document", start: 0, end: nav.responseEnd },
      ...(performance.getEntriesByType("resource") as PerformanceResourceTiming[]).map((e) => ({
        what: new URL(e.name).pathname.replace(/\/api\/gyre\/projects\/[^/]+\/[^/]+\/[^/]+/, "…"),
        start: e.startTime,
        end: e.responseEnd,
      })),
      { what: "(the entry script ran)", start: nav.domContentLoadedEventEnd, end: nav.loadEventEnd },
      {
        what: "(the first output line in the page)",
        start: (window as unknown as { firstLineAt: number }).firstLineAt,
        end: (window as unknown as { firstLineAt: number }).firstLineAt,
      },
    ];
    return shown.map((e) => ({ ...e, start: Math.round(e.start), end: Math.round(e.end) }));
  });
}
const waterfalls: { lines: number; entries: { what: string; start: number; end: number }[] }[] = [];

const runtime = await startLocalRuntime({ dataDir: tempDir("bench-web"), port: 0, agents: 1 });
const browser = await launchBrowser();
try {
  const call = apiClient(runtime.url, runtime.adminToken);
  const first = firstPageBytes();
  console.log("First page JavaScript and CSS (gzip):");
  for (const s of first.sizes)
    console.log(`  ${s.file}: ${fmt(s.raw / 1024)} KB, ${fmt(s.gzip / 1024)} KB gzip`);
  console.log(`  total ${fmt(first.gzip / 1024)} KB gzip (goal: under 200 KB)\n`);

  const rows: string[][] = [];
  for (const lines of SIZES) {
    const slug = `gh/bench/lines-${lines}`;
    await call("POST", "/api/gyre/projects", {
      repo_url: await configRepo(tempDir(`bench-web-${lines}`), config(lines)),
      slug,
    });
    const { number } = await call<{ number: number }>("POST", `/api/v2/project/${slug}/pipeline`, {
      branch: "main",
    });
    let job: { web_url: string; status: string; number: number } | undefined;
    for (;;) {
      const pipeline = await call<{ id: string; state: string }>(
        "GET",
        `/api/v2/project/${slug}/pipeline/${number}`,
      );
      const workflows = await call<{ items: { id: string; status: string }[] }>(
        "GET",
        `/api/v2/pipeline/${pipeline.id}/workflow`,
      );
      const w = workflows.items[0];
      if (w && !["running", "on_hold"].includes(w.status)) {
        const jobs = await call<{ items: { job_number: number }[] }>("GET", `/api/v2/workflow/${w.id}/job`);
        job = await call("GET", `/api/v2/project/${slug}/job/${jobs.items[0]!.job_number}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (job?.status !== "success") throw new Error(`The ${lines}-line job ended ${job?.status}`);
    const build = await call<{ steps: { name: string; actions: { step: number }[] }[] }>(
      "GET",
      `/api/v1.1/project/${slug}/${job.number}`,
    );
    const step = build.steps.find((s) => s.name === "Lines")!.actions[0]!.step;
    const path = new URL(job.web_url).pathname;

    // Baseline: the step's bytes alone, through the same API.
    const rawStart = wall();
    const raw = await fetch(
      `${runtime.url}/api/gyre/projects/${slug}/jobs/${job.number}/output/0/${step}?format=raw`,
      {
        headers: { "Circle-Token": runtime.adminToken },
      },
    );
    const bytes = (await raw.arrayBuffer()).byteLength;
    const rawMs = wall() - rawStart;

    const { context, page } = await newPage(browser, runtime.url);
    await signIn(page, runtime.adminToken);
    // Installed in every document the page opens (page.evaluate would last only until the next).
    await page.addInitScript(() => {
      const w = window as unknown as { longest: number };
      w.longest = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longest = Math.max(w.longest, e.duration);
      }).observe({ type: "longtask", buffered: true });
      // When the first output line is in the page (the waterfall's last entry).
      const seen = new MutationObserver(() => {
        if (!document.querySelector(".row.line")) return;
        (window as unknown as { firstLineAt: number }).firstLineAt = performance.now();
        seen.disconnect();
      });
      seen.observe(document, { childList: true, subtree: true });
    });
    const open = async (line: number) => {
      const start = wall();
      await page.goto(`${path}#s${step}-L${line}`);
      await page.locator(`[data-line="s${step}-L${line}"]`).waitFor({ timeout: 600_000 });
      return wall() - start;
    };
    const firstMs = await open(1);
    waterfalls.push({ lines, entries: await waterfall(page) });
    const endMs = await open(lines);
    // Scrolling through the loaded output: jump to the middle and back to the end.
    const scrollStart = wall();
    await page.locator(".output").evaluate((el) => {
      el.scrollTop = el.scrollHeight / 2;
    });
    await page.locator(`.row.line`).first().waitFor();
    await page.locator(".output").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator(`[data-line="s${step}-L${lines}"]`).waitFor();
    const scrollMs = wall() - scrollStart;
    const longest = await page.evaluate(() => (window as unknown as { longest: number }).longest);
    const rendered = await page.locator(".row").count();
    await context.close();
    rows.push([
      String(lines),
      fmt(bytes / 1024 / 1024, 1),
      fmt(rawMs, 0),
      fmt(firstMs, 0),
      fmt(endMs, 0),
      fmt(scrollMs, 0),
      fmt(longest, 0),
      String(rendered),
    ]);
  }
  for (const w of waterfalls.slice(0, 1)) {
    console.log(
      `Opening the ${w.lines}-line job at its first line: what the page fetched (ms from navigation)`,
    );
    for (const e of w.entries)
      console.log(`  ${String(e.start).padStart(5)} → ${String(e.end).padStart(5)}  ${e.what}`);
    console.log("");
  }
  // Live: a job printing a line (with the time it printed it) every 500 ms, watched on its page.
  const live = await liveLatency(call);

  const head = [
    "lines",
    "MB",
    "raw fetch ms",
    "first line ms",
    "end ms",
    "scroll ms",
    "longest task ms",
    "rows in DOM",
  ];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(width[i]!)).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(
    "\nfirst line: page opened at line 1 until it is on screen (goal: under 1 s); end: opened at the last line until it is on screen;",
  );
  console.log(
    "raw fetch: the same step's bytes with no page (the baseline); longest task: the longest main-thread block.",
  );
  console.log(
    `\nlive: a line printed by a running step is on the page ${fmt(live.p50, 0)} ms later (p50; p95 ${fmt(live.p95, 0)}, max ${fmt(live.max, 0)}; ${live.count} lines; goal: under 1 s)`,
  );
  console.log(
    `  its parts: the agent's flush every 250 ms, the upload, the page's read every 250 ms, the render.`,
  );
} finally {
  await browser.close();
  await runtime.stop();
}
