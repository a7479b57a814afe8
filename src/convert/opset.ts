/**
 * Opset conversion of the default ONNX domain, up and down, node by node: each operator is walked
 * through every version boundary between the model's opset and the target, applying the rewrite
 * registered for that boundary (opset-rules.ts). Boundaries without a rule only widened types or
 * added optional attributes whose defaults keep the old behaviour.
 *
 * Anything we cannot convert faithfully is an OpsetConversionError naming the node, operator and
 * version, never a silently different model.
 */
import type { GraphProto, ModelProto, NodeProto } from '../onnx/types.js';
import { DataType } from '../onnx/types.js';
import { Constants, NameGen, cloneModel, defaultOpset, isDefaultDomain, nodeLabel, removeAttr, topoSort } from './graph.js';
import { inferTypes, type TypeMap } from './infer.js';
import { AdaptContext, OpsetConversionError, type Rewrite } from './opset-context.js';
import { MAX_OPSET, OP_HISTORY, minIrVersion, sinceVersion } from './opset-history.js';
import { NEGATIVE_AXIS_SINCE_11, RULES, normalizeNegativeAxes } from './opset-rules.js';

export { OpsetConversionError } from './opset-context.js';
export { MAX_OPSET } from './opset-history.js';

/** The lowest opset we convert down to: onnxruntime runs models stamped 7 and above. */
export const MIN_TARGET_OPSET = 7;

/** Oldest default-domain opset onnxruntime supports; older models are upgraded by upgradeForRuntime. */
export const RUNTIME_MIN_OPSET = 7;
/** The opset upgradeForRuntime converts to. */
export const RUNTIME_UPGRADE_OPSET = 13;

export interface OpsetChange {
  /** node name, or its first output when unnamed */
  node: string;
  /** operator version before → after, e.g. 'AveragePool-1' → 'AveragePool-11' */
  from: string;
  to: string;
  /** what was rewritten */
  change: string;
}

export interface OpsetReport {
  fromOpset: number;
  toOpset: number;
  irVersion: { from: number; to: number };
  /** nodes in all graphs before conversion */
  nodes: number;
  /** nodes whose definition changed and that were rewritten */
  nodesRewritten: number;
  /** helper nodes inserted (Cast/Unsqueeze/Flatten/Reshape/Transpose...) */
  nodesAdded: number;
  initializersAdded: number;
  /** one entry per rewritten node and boundary */
  changes: OpsetChange[];
  /** the distinct rewrites, with how many nodes each applied to */
  summary: { from: string; to: string; change: string; count: number }[];
  /** each ai.onnx operator of the model: the version it had and the version it has now */
  operators: { op: string; from: number; to: number | null; nodes: number }[];
}

interface State {
  changes: OpsetChange[];
  rewritten: Set<NodeProto>;
  added: number;
}

function changeLabel(node: NodeProto): string {
  return node.name || node.output[0] || node.opType || '?';
}

const utf8 = new TextDecoder();

/** Everything about a node a rewrite can change, as a string (to tell whether a rule changed it). */
function fingerprint(node: NodeProto): string {
  const attrs = (node.attribute ?? []).map((a) => [a.name, a.type, String(a.i ?? ''), a.f ?? '', (a.ints ?? []).join(','), (a.floats ?? []).join(','), a.s ? utf8.decode(a.s) : '', a.t ? 't' : ''].join(':'));
  return [node.opType, node.input.join(','), node.output.join(','), attrs.join(';')].join('|');
}

/** Converts one node across every boundary between `source` and `target`; returns the nodes that replace it. */
function convertNode(node: NodeProto, cx: AdaptContext, source: number, target: number, state: State): NodeProto[] {
  const before: NodeProto[] = [];
  const after: NodeProto[] = [];
  const originalOp = node.opType ?? '';
  let ver = sinceVersion(originalOp, source);
  if (ver === undefined) {
    if (OP_HISTORY[originalOp]) throw new OpsetConversionError(`${nodeLabel(node)}: ${originalOp} does not exist in opset ${source} (first version ${OP_HISTORY[originalOp][0]})`);
    throw new OpsetConversionError(`${nodeLabel(node)}: ${originalOp} is not an ai.onnx operator berth knows (opsets 1–${MAX_OPSET})`);
  }
  const record = (fromOp: string, fromV: number, toOp: string, toV: number, rewrite: Rewrite | void, what: string, before0?: string) => {
    if (before0 !== undefined && !rewrite && fingerprint(node) === before0) return;
    if (rewrite?.before) before.push(...rewrite.before);
    if (rewrite?.after) after.unshift(...rewrite.after);
    state.added += (rewrite?.before?.length ?? 0) + (rewrite?.after?.length ?? 0);
    state.rewritten.add(node);
    state.changes.push({ node: changeLabel(node), from: `${fromOp}-${fromV}`, to: `${toOp}-${toV}`, change: rewrite?.note ?? what });
  };

  if (target > source) {
    for (;;) {
      const op = node.opType ?? '';
      const next = (OP_HISTORY[op] ?? []).find((v) => v > ver! && v <= target);
      if (next === undefined) break;
      cx.step = { from: ver, to: next };
      if (next === 6 && removeAttr(node, 'consumed_inputs')) {
        record(op, ver, op, next, undefined, "legacy 'consumed_inputs' attribute removed");
      }
      const rule = RULES[`${op}@${next}`];
      if (rule?.up) {
        const fp = fingerprint(node);
        const rw = rule.up(node, cx);
        record(op, ver, node.opType ?? op, next, rw, rule.what, fp);
      }
      ver = next;
    }
  } else if (target < source) {
    for (;;) {
      const op = node.opType ?? '';
      if (ver! <= target) break;
      const versions = OP_HISTORY[op] ?? [];
      const prev = [...versions].reverse().find((v) => v < ver!);
      cx.step = { from: ver!, to: prev ?? target };
      if (ver === 11 && NEGATIVE_AXIS_SINCE_11.has(op)) {
        const note = normalizeNegativeAxes(node, cx);
        if (note) record(op, ver, op, prev ?? 10, { note }, note);
      }
      const rule = RULES[`${op}@${ver}`];
      if (rule?.down) {
        const fp = fingerprint(node);
        const rw = rule.down(node, cx);
        if (node.opType !== op) {
          // replaced by another operator (Resize-10 → Upsample-9, ScatterElements-11 → Scatter-9)
          const newVer = sinceVersion(node.opType ?? '', ver! - 1);
          record(op, ver!, node.opType ?? '', newVer ?? 0, rw, rule.what);
          if (newVer === undefined) throw cx.fail(node, `${node.opType} does not exist before opset ${ver}`);
          ver = newVer;
          continue;
        }
        record(op, ver!, op, prev ?? 0, rw, rule.what, fp);
      }
      if (prev === undefined) {
        throw new OpsetConversionError(`${nodeLabel(node)}: ${op} does not exist before opset ${ver} (first version ${versions[0]}); cannot convert to opset ${target}`);
      }
      ver = prev;
    }
  }
  return [...before, node, ...after];
}

const TYPE_FLOOR: { types: number[]; opset: number; label: string }[] = [
  { types: [DataType.BFLOAT16], opset: 13, label: 'bfloat16' },
  { types: [DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ], opset: 19, label: 'float8' },
  { types: [DataType.UINT4, DataType.INT4], opset: 21, label: 'int4/uint4' },
];

function checkTypesForTarget(types: TypeMap, graph: GraphProto, target: number): void {
  for (const floor of TYPE_FLOOR) {
    if (target >= floor.opset) continue;
    for (const [name, t] of types) {
      if (t.elemType !== undefined && floor.types.includes(t.elemType)) {
        throw new OpsetConversionError(`value '${name}' in graph '${graph.name ?? ''}' is ${floor.label}, which needs opset ${floor.opset} or later; cannot convert to opset ${target}`);
      }
    }
  }
}

function convertGraph(graph: GraphProto, names: NameGen, source: number, target: number, irVersion: number, state: State, outer?: TypeMap): void {
  const types = inferTypes(graph, source, outer);
  if (target < source) checkTypesForTarget(types, graph, target);
  const consts = new Constants(graph);
  const cx = new AdaptContext(graph, types, consts, names, target, irVersion);
  const original = [...graph.node];
  const out: NodeProto[] = [];
  for (const node of original) {
    if (!isDefaultDomain(node)) {
      out.push(node);
      continue;
    }
    // Keep the graph's node list current while adapting (adapters look up uses in it).
    const replaced = convertNode(node, cx, source, target, state);
    out.push(...replaced);
    if (replaced.length > 1) {
      const at = graph.node.indexOf(node);
      graph.node.splice(at, 1, ...replaced);
    }
  }
  graph.node = out;
  // Subgraphs see this graph's values.
  for (const node of graph.node) {
    for (const a of node.attribute ?? []) {
      if (a.g) convertGraph(a.g, names, source, target, irVersion, state, types);
      for (const g of a.graphs ?? []) convertGraph(g, names, source, target, irVersion, state, types);
    }
  }
  topoSort(graph);
}

function countNodes(graph: GraphProto | undefined): number {
  if (!graph) return 0;
  let n = 0;
  for (const node of graph.node) {
    n++;
    for (const a of node.attribute ?? []) {
      if (a.g) n += countNodes(a.g);
      for (const g of a.graphs ?? []) n += countNodes(g);
    }
  }
  return n;
}

/**
 * Converts the model's default-domain (ai.onnx) opset to `target` (7–21), up or down. The input
 * model is not modified. Other domains (ai.onnx.ml, com.microsoft, ...) are left as they are.
 */
export function convertOpset(model: ModelProto, target: number): { model: ModelProto; report: OpsetReport } {
  if (!Number.isInteger(target) || target < MIN_TARGET_OPSET || target > MAX_OPSET) {
    throw new OpsetConversionError(`target opset ${target} is out of range: berth converts to ai.onnx opsets ${MIN_TARGET_OPSET}–${MAX_OPSET}`);
  }
  const source = defaultOpset(model);
  if (source === undefined) throw new OpsetConversionError('the model imports no ai.onnx opset');
  if (source > MAX_OPSET) throw new OpsetConversionError(`the model's opset ${source} is newer than berth's converter knows (up to ${MAX_OPSET})`);
  if (!model.graph) throw new OpsetConversionError('the model has no graph');
  const out = cloneModel(model);
  const irFrom = model.irVersion ?? 0;
  const irTo = Math.max(irFrom, minIrVersion(target));
  const state: State = { changes: [], rewritten: new Set(), added: 0 };
  const nodes = countNodes(model.graph);
  const operators = new Map<string, { op: string; from: number; to: number | null; nodes: number }>();
  const visitOps = (g: GraphProto) => {
    for (const n of g.node) {
      const op = n.opType ?? '';
      const from = isDefaultDomain(n) ? sinceVersion(op, source) : undefined;
      if (from !== undefined) {
        const entry = operators.get(op) ?? { op, from, to: sinceVersion(op, target) ?? null, nodes: 0 };
        entry.nodes++;
        operators.set(op, entry);
      }
      for (const a of n.attribute ?? []) {
        if (a.g) visitOps(a.g);
        for (const sg of a.graphs ?? []) visitOps(sg);
      }
    }
  };
  visitOps(model.graph);
  const initsBefore = out.graph!.initializer.length;
  if (source !== target) {
    const names = new NameGen(out);
    convertGraph(out.graph!, names, source, target, irFrom, state);
  }
  for (const o of out.opsetImport) if ((o.domain ?? '') === '' || o.domain === 'ai.onnx') o.version = target;
  out.irVersion = irTo;
  const summary = new Map<string, { from: string; to: string; change: string; count: number }>();
  for (const c of state.changes) {
    const key = `${c.from}|${c.to}|${c.change}`;
    const s = summary.get(key);
    if (s) s.count++;
    else summary.set(key, { from: c.from, to: c.to, change: c.change, count: 1 });
  }
  return {
    model: out,
    report: {
      fromOpset: source,
      toOpset: target,
      irVersion: { from: irFrom, to: irTo },
      nodes,
      nodesRewritten: state.rewritten.size,
      nodesAdded: state.added,
      initializersAdded: out.graph!.initializer.length - initsBefore,
      changes: state.changes,
      summary: [...summary.values()],
      operators: [...operators.values()].sort((a, b) => a.op.localeCompare(b.op)),
    },
  };
}

/**
 * What `berth serve` applies on load: a model whose ai.onnx opset is older than onnxruntime
 * supports (< 7) is upgraded to opset 13; anything else is returned unchanged.
 */
export function upgradeForRuntime(model: ModelProto): { model: ModelProto; upgraded: boolean; from: number; to: number; changes: string[] } {
  const from = defaultOpset(model);
  if (from === undefined || from >= RUNTIME_MIN_OPSET) return { model, upgraded: false, from: from ?? 0, to: from ?? 0, changes: [] };
  const { model: upgraded, report } = convertOpset(model, RUNTIME_UPGRADE_OPSET);
  const changes = report.summary.map((s) => `${s.from} → ${s.to}: ${s.change}${s.count > 1 ? ` (${s.count} nodes)` : ''}`);
  return { model: upgraded, upgraded: true, from, to: RUNTIME_UPGRADE_OPSET, changes };
}
