/**
 * A model's versions as a graph: each version is a box, an arrow runs from the version it was
 * derived from (its parent, e.g. "quantize dynamic int8") to it. Columns are generations;
 * aliases and the rollout's roles are marked on the boxes. Drawn as SVG (no layout library:
 * lineage is a forest, so generations and version order place every box).
 */
import type { RolloutState, VersionRecord } from '../api/types';
import { COLORS } from '../lib/colors';

const BOX_W = 150;
const BOX_H = 58;
const COL_GAP = 170;
const ROW_GAP = 22;
const PAD = 12;

interface Node {
  id: string;
  label: string;
  sub: string;
  roles: string[];
  external: boolean;
  col: number;
  row: number;
}

function roleColor(roles: string[]): string | undefined {
  if (roles.includes('production')) return COLORS.production;
  if (roles.includes('canary')) return COLORS.canary;
  if (roles.includes('shadow')) return COLORS.shadow;
  return undefined;
}

export function LineageGraph({ model, versions, aliases, rollout }: { model: string; versions: VersionRecord[]; aliases: Record<string, number>; rollout?: RolloutState }) {
  const byVersion = new Map(versions.map((v) => [v.version, v]));
  const roles = (v: number): string[] => {
    const out = Object.entries(aliases).filter(([, n]) => n === v).map(([a]) => a);
    if (rollout?.canary?.version === v) out.push(`canary ${rollout.canary.percent}%`);
    if (rollout?.shadow?.version === v) out.push('shadow');
    return out;
  };
  // generation = distance from the first ancestor in this model
  const depth = new Map<number, number>();
  const depthOf = (v: number, seen = new Set<number>()): number => {
    const known = depth.get(v);
    if (known !== undefined) return known;
    const parent = byVersion.get(v)?.parent;
    const d = parent && parent.name === model && byVersion.has(parent.version) && !seen.has(v) ? depthOf(parent.version, new Set([...seen, v])) + 1 : parent ? 1 : 0;
    depth.set(v, d);
    return d;
  };
  const nodes: Node[] = [];
  const rowsPerCol = new Map<number, number>();
  const place = (col: number): number => {
    const row = rowsPerCol.get(col) ?? 0;
    rowsPerCol.set(col, row + 1);
    return row;
  };
  // parents from other models are drawn as outlined boxes in the first column
  const externals = new Map<string, Node>();
  for (const v of [...versions].sort((a, b) => a.version - b.version)) {
    const p = v.parent;
    if (p && (p.name !== model || !byVersion.has(p.version))) {
      const id = `${p.name}:${p.version}`;
      if (!externals.has(id)) {
        const n: Node = { id, label: p.name === model ? `v${p.version}` : id, sub: 'not in the registry list', roles: [], external: true, col: 0, row: place(0) };
        externals.set(id, n);
        nodes.push(n);
      }
    }
  }
  for (const v of [...versions].sort((a, b) => a.version - b.version)) {
    const col = depthOf(v.version);
    const accuracy = v.metrics.accuracy ?? v.metrics.test_accuracy;
    nodes.push({
      id: `${model}:${v.version}`,
      label: `v${v.version}`,
      sub: accuracy !== undefined ? `accuracy ${(accuracy * (accuracy <= 1 ? 100 : 1)).toFixed(1)}%` : v.createdAt.slice(0, 10),
      roles: roles(v.version),
      external: false,
      col,
      row: place(col),
    });
  }
  const at = new Map(nodes.map((n) => [n.id, { x: PAD + n.col * (BOX_W + COL_GAP), y: PAD + n.row * (BOX_H + ROW_GAP) }]));
  const cols = Math.max(1, ...nodes.map((n) => n.col + 1));
  const rows = Math.max(1, ...[...rowsPerCol.values()]);
  const width = PAD * 2 + cols * BOX_W + (cols - 1) * COL_GAP;
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * ROW_GAP;

  return (
    <svg class="lineage" data-testid="lineage-graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`lineage of ${model}`}>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" fill="#9ca3af" />
        </marker>
      </defs>
      {versions.filter((v) => v.parent).map((v) => {
        const from = at.get(`${v.parent!.name}:${v.parent!.version}`);
        const to = at.get(`${model}:${v.version}`);
        if (!from || !to) return null;
        const x1 = from.x + BOX_W;
        const y1 = from.y + BOX_H / 2;
        const x2 = to.x;
        const y2 = to.y + BOX_H / 2;
        const mx = (x1 + x2) / 2;
        return (
          <g key={`edge-${v.version}`}>
            <path d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`} fill="none" stroke="#9ca3af" stroke-width="1.5" marker-end="url(#arrow)" />
            {v.derivedBy && (
              <text x={mx} y={(y1 + y2) / 2 - 5} text-anchor="middle" class="lineage-edge-label">
                <title>{v.derivedBy}</title>
                {v.derivedBy.length > 30 ? `${v.derivedBy.slice(0, 29)}…` : v.derivedBy}
              </text>
            )}
          </g>
        );
      })}
      {nodes.map((n) => {
        const { x, y } = at.get(n.id)!;
        const color = roleColor(n.roles);
        return (
          <g key={n.id} data-version={n.label}>
            <rect x={x} y={y} width={BOX_W} height={BOX_H} rx="8" fill={n.external ? '#f9fafb' : '#fff'} stroke={color ?? '#d1d5db'} stroke-width={color ? 2.5 : 1} stroke-dasharray={n.external ? '4 3' : undefined} />
            <text x={x + 10} y={y + 20} class="lineage-label">{n.label}</text>
            <text x={x + 10} y={y + 37} class="lineage-sub">{n.sub}</text>
            <text x={x + 10} y={y + 51} class="lineage-roles" fill={color ?? '#6b7280'}>{n.roles.join(' · ')}</text>
          </g>
        );
      })}
    </svg>
  );
}
