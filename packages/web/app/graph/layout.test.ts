import { describe, expect, it } from "vitest";
import { layoutWorkflow, NODE } from "./layout.ts";

const job = (id: string, ...dependencies: string[]) => ({ id, name: id, dependencies });
const placed = (jobs: ReturnType<typeof job>[]) =>
  Object.fromEntries(layoutWorkflow(jobs).nodes.map((n) => [n.id, [n.column, n.row]]));

describe("workflow graph layout", () => {
  it("puts each job one column past the deepest job it requires", () => {
    expect(placed([job("build"), job("test", "build"), job("lint"), job("deploy", "test", "lint")])).toEqual({
      build: [0, 0],
      lint: [0, 1],
      test: [1, 0],
      deploy: [2, 0],
    });
  });

  it("fans out and in: dependants of one job share a column, ordered by name, and the fan-in follows them", () => {
    const jobs = [
      job("build"),
      job("z-test", "build"),
      job("a-test", "build"),
      job("report", "a-test", "z-test"),
    ];
    expect(placed(jobs)).toEqual({ build: [0, 0], "a-test": [1, 0], "z-test": [1, 1], report: [2, 0] });
  });

  it("orders a column by where the required jobs sit, so edges do not cross", () => {
    const jobs = [job("a"), job("b"), job("after-b", "b"), job("after-a", "a")];
    expect(placed(jobs)).toMatchObject({ "after-a": [1, 0], "after-b": [1, 1] });
  });

  it("draws one edge per requirement from the required job's right side to the dependant's left side", () => {
    const { edges, width, height } = layoutWorkflow([job("build"), job("test", "build")]);
    expect(edges).toEqual([
      {
        from: "build",
        to: "test",
        path: `M${NODE.width},${NODE.height / 2} C${NODE.width + NODE.gapX / 2},${NODE.height / 2} ${NODE.width + NODE.gapX / 2},${NODE.height / 2} ${NODE.width + NODE.gapX},${NODE.height / 2}`,
      },
    ]);
    expect([width, height]).toEqual([2 * NODE.width + NODE.gapX, NODE.height]);
  });

  it("ignores requirements on jobs it was not given and survives a cycle", () => {
    expect(placed([job("a", "missing")])).toEqual({ a: [0, 0] });
    const cyclic = placed([job("a", "b"), job("b", "a")]);
    expect(Object.keys(cyclic).sort()).toEqual(["a", "b"]);
  });

  it("lays out nothing for no jobs", () => {
    expect(layoutWorkflow([])).toEqual({ nodes: [], edges: [], width: 0, height: 0 });
  });
});
