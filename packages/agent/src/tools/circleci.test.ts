import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { haltRequested, type Timings, timingsTable, writeTools } from "./index.ts";

const temp = (prefix: string) => mkdtempSync(join(tmpdir(), `gyre-tools-${prefix}-`));

/** Runs the installed `circleci` in `cwd` with `input` on stdin. */
function circleci(
  bin: string,
  args: string[],
  options: { cwd?: string; input?: string; env?: Record<string, string>; name?: string } = {},
) {
  const run = spawnSync(join(bin, options.name ?? "circleci"), args, {
    cwd: options.cwd,
    input: options.input ?? "",
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
  });
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    lines: run.stdout.split("\n").filter(Boolean),
  };
}

async function tools(timings?: Partial<Timings>) {
  const root = temp("root");
  return { root, bin: await writeTools(root, timings) };
}

describe("circleci tests glob", () => {
  let bin: string;
  let cwd: string;
  beforeAll(async () => {
    ({ bin } = await tools());
    cwd = temp("glob");
    for (const file of [
      "spec/a_spec.rb",
      "spec/b_spec.rb",
      "spec/deep/er/c_spec.rb",
      "spec/helper.rb",
      "src/app.js",
      "src/lib/util.ts",
      "src/lib/util.test.ts",
      "name with space/x_spec.rb",
      ".hidden/z_spec.rb",
    ]) {
      mkdirSync(join(cwd, file, ".."), { recursive: true });
      writeFileSync(join(cwd, file), "");
    }
  });

  it("matches ** across directories (and none), sorted, one path per line", () => {
    expect(circleci(bin, ["tests", "glob", "spec/**/*_spec.rb"], { cwd }).lines).toEqual([
      "spec/a_spec.rb",
      "spec/b_spec.rb",
      "spec/deep/er/c_spec.rb",
    ]);
  });

  it("expands {a,b}, ?, [...] and merges several patterns without duplicates", () => {
    const out = circleci(bin, ["tests", "glob", "src/**/*.{js,ts}", "spec/?_spec.rb", "spec/[a]_spec.rb"], {
      cwd,
    });
    expect(out.status).toBe(0);
    expect(out.lines).toEqual([
      "spec/a_spec.rb",
      "spec/b_spec.rb",
      "src/app.js",
      "src/lib/util.test.ts",
      "src/lib/util.ts",
    ]);
  });

  it("keeps spaces inside a path, skips hidden directories like bash, drops patterns matching nothing", () => {
    const out = circleci(bin, ["tests", "glob", "**/*_spec.rb", "missing/*.rb", "nope.rb"], { cwd });
    expect(out.lines).toContain("name with space/x_spec.rb");
    expect(out.lines).not.toContain(".hidden/z_spec.rb");
    expect(out.lines).toHaveLength(4);
  });

  it("needs a pattern", () => {
    const out = circleci(bin, ["tests", "glob"], { cwd });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("at least one pattern");
  });
});

/** Every node's share of `items`, run as each node would. */
function shares(bin: string, items: string[], total: number, args: string[] = [], cwd?: string) {
  return Array.from({ length: total }, (_, index) => {
    const out = circleci(bin, ["tests", "split", ...args], {
      cwd,
      input: items.join("\n"),
      env: { CIRCLE_NODE_TOTAL: String(total), CIRCLE_NODE_INDEX: String(index) },
    });
    expect(out.status).toBe(0);
    return out.lines;
  });
}

describe("circleci tests split", () => {
  let bin: string;
  beforeAll(async () => {
    ({ bin } = await tools({
      filename: { "spec/a_spec.rb": 5, "spec/b_spec.rb": 1, "spec/c_spec.rb": 2, "spec/d_spec.rb": 2 },
      classname: { "com.acme.Slow": 9, "com.acme.Fast": 1, "com.acme.Mid": 4 },
      testname: {},
    }));
  });

  it("by name: round robin over the sorted names, each share sorted, from CIRCLE_NODE_TOTAL/INDEX", () => {
    expect(shares(bin, ["e", "c", "a", "d", "b"], 2)).toEqual([
      ["a", "c", "e"],
      ["b", "d"],
    ]);
  });

  it("reads whitespace-separated items from stdin or from a file argument", async () => {
    const dir = temp("split");
    writeFileSync(join(dir, "list.txt"), "b a\n\n  d\tc\n");
    const fromFile = circleci(bin, ["tests", "split", "--total=2", "--index=0", "list.txt"], { cwd: dir });
    const fromStdin = circleci(bin, ["tests", "split", "--total", "2", "--index", "0"], { input: "b a d c" });
    expect(fromFile.lines).toEqual(["a", "c"]);
    expect(fromStdin.lines).toEqual(["a", "c"]);
  });

  it("by timings: autodetects file timings, packs the heaviest first, warns of files without timings", () => {
    const items = [
      "spec/a_spec.rb",
      "./spec/b_spec.rb",
      "spec/c_spec.rb",
      "spec/d_spec.rb",
      "spec/new_spec.rb",
    ];
    const [zero, one] = shares(bin, items, 2, ["--split-by=timings"]);
    // a (5) → 0; c, d (2 each) → 1; b (1) → 1 (5); new (default 0.01 s) → 0 (tie, lowest index).
    expect(zero).toEqual(["spec/a_spec.rb", "spec/new_spec.rb"]);
    expect(one).toEqual(["./spec/b_spec.rb", "spec/c_spec.rb", "spec/d_spec.rb"]);
    const out = circleci(bin, ["tests", "split", "--split-by=timings", "--total=2", "--index=0"], {
      input: items.join("\n"),
    });
    expect(out.stderr).toContain("Autodetected filename timings.");
    expect(out.stderr).toContain('No timing found for "spec/new_spec.rb"');
  });

  it("by timings: classnames, detected or named with --timings-type", () => {
    const items = ["com.acme.Fast", "com.acme.Mid", "com.acme.Slow", "com.acme.Other"];
    const detected = shares(bin, items, 2, ["--split-by=timings", "--time-default=3s"]);
    const named = shares(bin, items, 2, [
      "--split-by",
      "timings",
      "--timings-type=classname",
      "--time-default=3s",
    ]);
    // Slow (9) → 0; Mid (4) → 1; Other (3) → 1 (7); Fast (1) → 1 (8).
    expect(detected).toEqual([["com.acme.Slow"], ["com.acme.Fast", "com.acme.Mid", "com.acme.Other"]]);
    expect(named).toEqual(detected);
  });

  it("by timings without matching timings: CircleCI's warning, then by name", async () => {
    const empty = await tools();
    const out = circleci(empty.bin, ["tests", "split", "--split-by=timings", "--total=2", "--index=1"], {
      input: "x y z",
    });
    expect(out.status).toBe(0);
    expect(out.stderr).toContain("Error autodetecting timing type, falling back to weighting by name.");
    expect(out.lines).toEqual(["y"]);
  });

  it("by filesize: the largest files first, spread over the nodes", () => {
    const dir = temp("sizes");
    const sizes: Record<string, number> = {
      "big.txt": 900,
      "mid.txt": 500,
      "small.txt": 300,
      "tiny.txt": 100,
    };
    for (const [name, size] of Object.entries(sizes)) writeFileSync(join(dir, name), "x".repeat(size));
    // big → 0 (900); mid → 1 (500); small → 1 (800); tiny → 1 (900), missing (0) → 0 (tie).
    expect(shares(bin, [...Object.keys(sizes), "missing.txt"], 2, ["--split-by=filesize"], dir)).toEqual([
      ["big.txt", "missing.txt"],
      ["mid.txt", "small.txt", "tiny.txt"],
    ]);
  });

  it("each node gets a disjoint share and together they are the whole list (any size, any total)", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 6; round++) {
      const count = Math.floor(random() * 30);
      const items = Array.from({ length: count }, (_, i) => `t/${Math.floor(random() * 1e6)}_${i}.rb`);
      const total = 1 + Math.floor(random() * 5);
      for (const mode of [[], ["--split-by=timings"], ["--split-by=filesize"]]) {
        const all = shares(bin, items, total, mode);
        expect(all.flat().sort()).toEqual([...items].sort());
      }
    }
  });

  it("refuses bad options with a message", () => {
    const bad = (args: string[]) => circleci(bin, ["tests", "split", ...args], { input: "a" });
    expect(bad(["--total=2", "--index=2"]).stderr).toContain("must be less than --total");
    expect(bad(["--total=0"]).stderr).toContain("positive whole number");
    expect(bad(["--split-by=magic"]).stderr).toContain("--split-by must be");
    expect(bad(["--timings-type=x"]).stderr).toContain("--timings-type must be");
    expect(bad(["--time-default=soon"]).stderr).toContain("not a duration");
    expect(bad(["--wat"]).status).toBe(1);
  });
});

describe("circleci-agent step halt", () => {
  it("leaves a marker that haltRequested reads once", async () => {
    const { root, bin } = await tools();
    expect(await haltRequested(root)).toBe(false);
    expect(circleci(bin, ["step", "halt"], { name: "circleci-agent" }).status).toBe(0);
    expect(await haltRequested(root)).toBe(true);
    expect(await haltRequested(root)).toBe(false);
  });

  it("says what is not available", async () => {
    const { bin } = await tools();
    const out = circleci(bin, ["config", "validate"]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("not available inside a Gyre job");
  });
});

describe("timingsTable", () => {
  it("drops keys that could not be looked up and values that are not durations", () => {
    expect(
      timingsTable({
        "a.rb": 1.5,
        "tab\there": 1,
        "line\nbreak": 1,
        "": 2,
        "neg.rb": -1,
        "nan.rb": Number.NaN,
      }),
    ).toBe("a.rb\t1.5\n");
  });
});

describe("circleci env subst", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax under test, not a template
  it("replaces $VAR and ${VAR} from the environment, unset ones with nothing, and keeps the rest byte for byte", async () => {
    const { bin } = await tools();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax under test, not a template
    const template = 'foo is "$foo", ${alpha}beta, $unset|${unset}, $1 $$ $ and a trailing line\n\n';
    const run = circleci(bin, ["env", "subst"], { input: template, env: { foo: "bar", alpha: "beta " } });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('foo is "bar", beta beta, |, $1 $$ $ and a trailing line\n\n');
  });

  it("takes the text as an argument too, and a value containing $ or its own name is not expanded again", async () => {
    const { bin } = await tools();
    const run = circleci(bin, ["env", "subst", "$A-$B"], { env: { A: "$B", B: "x$A" } });
    expect(run.stdout).toBe("$B-x$A");
  });
});
