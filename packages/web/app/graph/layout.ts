/**
 * A workflow's jobs laid out as CircleCI draws them: left to right by dependency depth (a job's
 * column is one past the deepest job it requires), each column's jobs ordered by where the jobs
 * they require sit (fewer crossing edges), edges as curves from a job's right side to its
 * dependant's left side. Small and exact for the graphs workflows have (tens of jobs), so no
 * layout library: dagre and elkjs solve general graphs at 30-400 KB.
 */

export interface GraphJob {
  id: string;
  name: string;
  dependencies: string[];
}

export interface PlacedJob {
  id: string;
  column: number;
  row: number;
  x: number;
  y: number;
}

export interface Edge {
  from: string;
  to: string;
  path: string;
}

export interface Layout {
  nodes: PlacedJob[];
  edges: Edge[];
  width: number;
  height: number;
}

export const NODE = { width: 200, height: 56, gapX: 64, gapY: 16 };

export function layoutWorkflow(jobs: GraphJob[]): Layout {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  const columnOf = (id: string): number => {
    const known = column.get(id);
    if (known !== undefined) return known;
    // A cycle (never valid config, but never a hang): the job goes where it was reached.
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const deps = (byId.get(id)?.dependencies ?? []).filter((d) => byId.has(d));
    const c = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(columnOf));
    visiting.delete(id);
    column.set(id, c);
    return c;
  };
  for (const j of jobs) columnOf(j.id);

  const columns: GraphJob[][] = [];
  for (const j of jobs) {
    const c = column.get(j.id)!;
    columns[c] = [...(columns[c] ?? []), j];
  }
  const row = new Map<string, number>();
  for (const [c, members] of columns.entries()) {
    if (!members) continue;
    const weight = (j: GraphJob) => {
      const rows = j.dependencies.map((d) => row.get(d)).filter((r): r is number => r !== undefined);
      return rows.length === 0 ? Number.POSITIVE_INFINITY : rows.reduce((a, b) => a + b, 0) / rows.length;
    };
    // The first column keeps the config's order; later ones follow the jobs they require.
    const ordered =
      c === 0 ? members : [...members].sort((a, b) => weight(a) - weight(b) || a.name.localeCompare(b.name));
    for (const [i, j] of ordered.entries()) row.set(j.id, i);
  }

  const nodes = jobs.map((j) => {
    const c = column.get(j.id)!;
    const r = row.get(j.id)!;
    return { id: j.id, column: c, row: r, x: c * (NODE.width + NODE.gapX), y: r * (NODE.height + NODE.gapY) };
  });
  const at = new Map(nodes.map((n) => [n.id, n]));
  const edges: Edge[] = [];
  for (const j of jobs) {
    const to = at.get(j.id)!;
    for (const d of j.dependencies) {
      const from = at.get(d);
      if (!from) continue;
      const x1 = from.x + NODE.width;
      const y1 = from.y + NODE.height / 2;
      const x2 = to.x;
      const y2 = to.y + NODE.height / 2;
      const bend = (x2 - x1) / 2;
      edges.push({
        from: d,
        to: j.id,
        path: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      });
    }
  }
  const width = nodes.length === 0 ? 0 : Math.max(...nodes.map((n) => n.x)) + NODE.width;
  const height = nodes.length === 0 ? 0 : Math.max(...nodes.map((n) => n.y)) + NODE.height;
  return { nodes, edges, width, height };
}
