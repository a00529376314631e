/**
 * Step semantics end to end on the local stack, with real builder agents running jobs in their
 * sandboxes: `when`, `no_output_timeout`, `background`, exit codes, `circleci-agent step halt`,
 * `circleci tests glob|split` across `parallelism: 2` (with timings from an earlier run), live
 * output while a step runs, and masking of a secret printed across an output flush.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
// The background step's ticks land in a directory the builder shows every job, so the test can
// see them stop once the job has ended.
const shared = tempDir("steps-shared");

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("steps"),
    port: 0,
    agents: 2,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

interface Action {
  index: number;
  status: string;
  exit_code: number | null;
  background: boolean;
  output_url: string;
}

async function project(slug: string, files: Record<string, string>) {
  const repo = gitRepo(files);
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  return repo;
}

async function trigger(slug: string): Promise<string> {
  const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

async function jobsOf(pipelineId: string) {
  const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
  if (!workflow) return undefined;
  const jobs = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
  return { workflow, jobs };
}

async function settled(pipelineId: string) {
  return waitFor(
    "the workflow to finish",
    async () => {
      const found = await jobsOf(pipelineId);
      return found && ["success", "failed"].includes(found.workflow.status as string) ? found : undefined;
    },
    90_000,
  );
}

/** The v1.1 build's steps: name and the action of allocation `index`. */
async function build(slug: string, jobNumber: number, index = 0) {
  const body = (await client.get(`/api/v1.1/project/${slug}/${jobNumber}`)).body as {
    status: string;
    steps: { name: string; actions: Action[] }[];
  };
  return {
    status: body.status,
    steps: body.steps.map((s) => ({ name: s.name, action: s.actions.find((a) => a.index === index)! })),
  };
}

async function outputs(slug: string, jobNumber: number, index = 0): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await stepOutputs(client, slug, jobNumber, index)).map((s) => [s.name, s.output]),
  );
}

const SEMANTICS = `version: 2.1
jobs:
  fails:
    machine: true
    steps:
      - run: { name: Passes, command: echo passes }
      - run: { name: Fails, command: "echo failing; exit 3" }
      - run: { name: Skipped, command: echo skipped }
      - run: { name: Always, command: echo always, when: always }
      - run: { name: OnFail, command: echo on-fail, when: on_fail }
  passes:
    machine: true
    steps:
      - run: { name: Passes, command: echo passes }
      - run: { name: OnFail, command: echo on-fail, when: on_fail }
      - run: { name: Always, command: echo always, when: always }
  silent:
    machine: true
    steps:
      - run:
          name: Silent
          no_output_timeout: 2s
          command: echo "about to go quiet"; sleep 60; echo never
      - run: { name: After timeout, command: echo after, when: always }
  background:
    machine: true
    steps:
      - run:
          name: Ticker
          background: true
          command: while true; do date +%s%N >> ${shared}/ticks; sleep 0.05; done
      - run:
          name: Meanwhile
          command: |
            sleep 0.5
            a=$(wc -l < ${shared}/ticks); sleep 0.5; b=$(wc -l < ${shared}/ticks)
            echo "ticks grew from $a to $b"
            test "$b" -gt "$a"
  halts:
    machine: true
    steps:
      - run: { name: Before, command: echo before }
      - run:
          name: Halt
          command: |
            circleci-agent step halt
            echo halting now
      - run: { name: After halt, command: "echo should not run; exit 1" }
      - run: { name: Always after halt, command: echo nor this, when: always }
workflows:
  main:
    jobs: [fails, passes, silent, background, halts]
`;

describe("step semantics", () => {
  const slug = "gh/acme/steps";
  let jobs: Record<string, { number: number; status: string }>;

  beforeAll(async () => {
    await project(slug, { ".circleci/config.yml": SEMANTICS });
    const done = await settled(await trigger(slug));
    jobs = Object.fromEntries(
      done.jobs.map((j) => [
        j.name as string,
        { number: j.job_number as number, status: j.status as string },
      ]),
    );
  }, 120_000);

  it("when: a failure skips later steps but runs `always` and `on_fail` ones; exit codes are reported", async () => {
    expect(jobs.fails!.status).toBe("failed");
    const { steps } = await build(slug, jobs.fails!.number);
    expect(steps.map((s) => [s.name, s.action.status, s.action.exit_code])).toEqual([
      ["Spin up environment", "success", 0],
      ["Passes", "success", 0],
      ["Fails", "failed", 3],
      ["Always", "success", 0],
      ["OnFail", "success", 0],
    ]);
    const out = await outputs(slug, jobs.fails!.number);
    expect(out.Fails).toContain("Exited with code 3");
    expect(out.OnFail).toContain("on-fail");
  });

  it("when: on_fail does not run after success; always does", async () => {
    expect(jobs.passes!.status).toBe("success");
    const { steps } = await build(slug, jobs.passes!.number);
    expect(steps.map((s) => s.name)).toEqual(["Spin up environment", "Passes", "Always"]);
  });

  it("no_output_timeout kills a silent step with CircleCI's message", async () => {
    expect(jobs.silent!.status).toMatch(/failed|timedout/);
    const { steps } = await build(slug, jobs.silent!.number);
    const silent = steps.find((s) => s.name === "Silent")!;
    expect(silent.action.status).toBe("timedout");
    expect(steps.find((s) => s.name === "After timeout")?.action.status).toBe("success");
    const out = await outputs(slug, jobs.silent!.number);
    expect(out.Silent).toContain("about to go quiet");
    expect(out.Silent).toContain("Too long with no output (exceeded 2s)");
    expect(out.Silent).not.toContain("never");
  });

  it("a background step keeps running while the next steps run, and is killed when the job ends", async () => {
    expect(jobs.background!.status).toBe("success");
    const { steps } = await build(slug, jobs.background!.number);
    expect(steps.find((s) => s.name === "Ticker")?.action.background).toBe(true);
    const out = await outputs(slug, jobs.background!.number);
    expect(out.Meanwhile).toMatch(/ticks grew from \d+ to \d+/);
    const ticks = join(shared, "ticks");
    expect(existsSync(ticks)).toBe(true);
    const size = statSync(ticks).size;
    await new Promise((r) => setTimeout(r, 600));
    expect(statSync(ticks).size).toBe(size);
    const last = Number(readFileSync(ticks, "utf8").trim().split("\n").at(-1)) / 1e6;
    expect(Date.now() - last).toBeGreaterThan(500);
  });

  it("circleci-agent step halt ends the job successfully after the current step", async () => {
    expect(jobs.halts!.status).toBe("success");
    const { steps } = await build(slug, jobs.halts!.number);
    expect(steps.map((s) => [s.name, s.action.status])).toEqual([
      ["Spin up environment", "success"],
      ["Before", "success"],
      ["Halt", "success"],
    ]);
    const out = await outputs(slug, jobs.halts!.number);
    expect(out.Halt).toContain("halting now");
    // The tools work where every step runs: inside the job's sandbox.
    expect(out["Spin up environment"]).toContain("Sandbox: bubblewrap");
  });
});

/** Test files of very different lengths, and a step that writes JUnit for the ones it ran. */
const FILES = Object.fromEntries(
  ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"].map((n, i) => [
    `tests/${i % 2 ? "unit" : "integration/deep"}/${n}_test.sh`,
    `${i}`,
  ]),
);
const WEIGHTS: Record<string, number> = {
  alpha: 30,
  bravo: 1,
  charlie: 2,
  delta: 25,
  echo: 3,
  foxtrot: 4,
  golf: 5,
};

const SPLIT = `version: 2.1
jobs:
  split:
    machine: true
    parallelism: 2
    steps:
      - checkout
      - run:
          name: Split
          command: |
            circleci tests glob "tests/**/*_test.sh" > all.txt
            circleci tests glob "tests/**/*_test.sh" | circleci tests split --split-by=timings > mine.txt
            echo "all: $(tr '\\n' ' ' < all.txt)"
            echo "mine: $(tr '\\n' ' ' < mine.txt)"
            echo "by name: $(circleci tests split --total=2 --index=$CIRCLE_NODE_INDEX all.txt | tr '\\n' ' ')"
      - run:
          name: Report
          command: |
            mkdir -p results
            {
              echo '<testsuite name="split">'
              while read -r f; do
                n=$(basename "$f" _test.sh)
                case $n in ${Object.entries(WEIGHTS)
                  .map(([n, w]) => `${n}) t=${w} ;;`)
                  .join(" ")} esac
                echo "<testcase classname=\\"$n\\" name=\\"$n\\" file=\\"$f\\" time=\\"$t\\"/>"
              done < mine.txt
              echo '</testsuite>'
            } > results/junit.xml
      - store_test_results:
          path: results
workflows:
  main:
    jobs: [split]
`;

describe("circleci tests glob and split across parallelism: 2", () => {
  const slug = "gh/acme/split";
  const all = Object.keys(FILES).sort();

  /** Each allocation's lines of the Split step. */
  async function splitLines(jobNumber: number) {
    return Promise.all(
      [0, 1].map(async (index) => {
        const out = (await outputs(slug, jobNumber, index)).Split!;
        const line = (label: string) =>
          (out.match(new RegExp(`^${label}: (.*)$`, "m"))?.[1] ?? "").split(" ").filter(Boolean);
        return { out, all: line("all"), mine: line("mine"), byName: line("by name") };
      }),
    );
  }

  it("splits disjointly by name without timings, then by the first run's timings", async () => {
    await project(slug, { ".circleci/config.yml": SPLIT, ...FILES });

    const first = await settled(await trigger(slug));
    expect(first.jobs.map((j) => j.status)).toEqual(["success"]);
    const [zero, one] = await splitLines(first.jobs[0]!.job_number as number);
    expect(zero!.all).toEqual(all);
    expect(one!.all).toEqual(all);
    for (const node of [zero!, one!])
      expect(node.out).toContain("Error autodetecting timing type, falling back to weighting by name.");
    // By name: a round robin over the sorted paths.
    expect(zero!.mine).toEqual(all.filter((_, i) => i % 2 === 0));
    expect(one!.mine).toEqual(all.filter((_, i) => i % 2 === 1));
    expect(zero!.byName).toEqual(zero!.mine);

    // The second run splits by the first run's stored test results.
    const second = await settled(await trigger(slug));
    expect(second.jobs.map((j) => j.status)).toEqual(["success"]);
    const [a, b] = await splitLines(second.jobs[0]!.job_number as number);
    for (const node of [a!, b!]) expect(node.out).toContain("Autodetected filename timings.");
    expect([...a!.mine, ...b!.mine].sort()).toEqual(all);
    expect(a!.mine.filter((f) => b!.mine.includes(f))).toEqual([]);
    const seconds = (files: string[]) =>
      files.reduce((sum, f) => sum + WEIGHTS[f.replace(/^.*\/|_test\.sh$/g, "")]!, 0);
    // Greedy, heaviest first: alpha 30 → 0; delta 25, golf 5 → 1 (30); foxtrot 4 → 0 (34);
    // echo 3, charlie 2 → 1 (35); bravo 1 → 0 (35).
    expect([seconds(a!.mine), seconds(b!.mine)]).toEqual([35, 35]);
  }, 120_000);
});

describe("live output and masking", () => {
  const slug = "gh/acme/live";
  const SECRET = "abcdef-0123456789-topsecret";

  it("shows a step's first lines before it ends, and masks a secret printed across a flush", async () => {
    await project(slug, {
      ".circleci/config.yml": `version: 2.1
jobs:
  live:
    machine: true
    steps:
      - run:
          name: Slow
          command: for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.3; done
      - run:
          name: Leak
          command: |
            printf 'token=%s' "\${LIVE_SECRET:0:6}"; sleep 0.6; printf '%s end\\n' "\${LIVE_SECRET:6}"
            echo "whole: $LIVE_SECRET"
workflows:
  main:
    jobs: [live]
`,
    });
    expect(
      (await client.post(`/api/v2/project/${slug}/envvar`, { name: "LIVE_SECRET", value: SECRET })).status,
    ).toBe(201);
    const pipelineId = await trigger(slug);
    const number = await waitFor("the job's number", async () => {
      const found = await jobsOf(pipelineId);
      return (found?.jobs[0]?.job_number as number | undefined) ?? undefined;
    });
    // While "Slow" is still running, its output so far is readable.
    const partial = await waitFor(
      "early output of a running step",
      async () => {
        const slow = (await build(slug, number)).steps.find((s) => s.name === "Slow");
        if (slow?.action.status !== "running") return undefined;
        const out = await client.get(new URL(slow.action.output_url).pathname);
        const text = (out.body as unknown as { message: string }[]).map((m) => m.message).join("");
        return text.includes("line 1") ? text : undefined;
      },
      30_000,
    );
    expect(partial).not.toContain("line 8");

    const done = await settled(pipelineId);
    expect(done.jobs[0]!.status).toBe("success");
    const out = await outputs(slug, number);
    expect(out.Slow).toContain("line 8");
    expect(out.Leak).toContain("token=********");
    expect(out.Leak).toContain("whole: ********");
    expect(out.Leak).not.toContain(SECRET);
    expect(out.Leak).not.toContain(SECRET.slice(0, 6) + SECRET.slice(6, 12));
  }, 90_000);
});
