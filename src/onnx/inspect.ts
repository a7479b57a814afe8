/**
 * What a model is, at a glance: its interface (inputs/outputs with dtypes and shapes), opsets,
 * producer, operator mix and parameter size.
 */
import { externalRef, isExternal } from './external.js';
import { elemTypeBits, elemTypeName, elementCount } from './tensor.js';
import type { ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from './types.js';
import { forEachTensor } from './walk.js';

export interface ValueSummary {
  name: string;
  /** element type name for tensors ('float32', ...); 'sequence<float32>', 'map<int64,float32>' etc. otherwise */
  dtype: string;
  /** dimensions: number = fixed, string = symbolic (dim_param), null = unknown; null when the rank is unknown */
  shape: (number | string | null)[] | null;
}

export interface ModelSummary {
  irVersion: number | null;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number | null;
  docString: string;
  graphName: string;
  /** '' is the default domain (ai.onnx) */
  opsets: { domain: string; version: number }[];
  /** graph inputs that are not initializers: what a caller must feed */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** nodes of the main graph */
  nodeCount: number;
  /** nodes of the main graph by operator, most frequent first; domain '' is ai.onnx */
  opCounts: { opType: string; domain: string; count: number }[];
  /** nodes inside subgraphs (If/Loop/Scan bodies), not counted above */
  subgraphNodeCount: number;
  /** initializers of the main graph (dense, plus the stored values of sparse ones) */
  initializerCount: number;
  parameterCount: number;
  parameterBytes: number;
  /** side files referenced by external data, with the bytes referenced in each */
  externalData: { location: string; bytes: number; tensors: number }[];
  functions: string[];
  metadata: Record<string, string>;
  /** the model file's size, when known */
  fileBytes?: number;
}

function dtypeOf(type: TypeProto | undefined): string {
  if (!type) return 'unknown';
  const elem = (n: number | undefined): string => (n === undefined ? 'unknown' : (elemTypeName(n) ?? `type${n}`));
  if (type.tensorType) return elem(type.tensorType.elemType);
  if (type.sparseTensorType) return `sparse<${elem(type.sparseTensorType.elemType)}>`;
  if (type.sequenceType) return `sequence<${dtypeOf(type.sequenceType.elemType)}>`;
  if (type.mapType) return `map<${elem(type.mapType.keyType)},${dtypeOf(type.mapType.valueType)}>`;
  if (type.optionalType) return `optional<${dtypeOf(type.optionalType.elemType)}>`;
  if (type.opaqueType) return `opaque<${type.opaqueType.domain ?? ''}.${type.opaqueType.name ?? ''}>`;
  return 'unknown';
}

function shapeOf(type: TypeProto | undefined): (number | string | null)[] | null {
  const shape = (type?.tensorType ?? type?.sparseTensorType)?.shape;
  if (!shape) return null;
  return (shape.dim ?? []).map((d) => {
    if (d.dimValue !== undefined) return Number(d.dimValue);
    if (d.dimParam !== undefined && d.dimParam !== '') return d.dimParam;
    return null;
  });
}

function valueSummary(v: ValueInfoProto): ValueSummary {
  return { name: v.name ?? '', dtype: dtypeOf(v.type), shape: shapeOf(v.type) };
}

function tensorBytes(t: TensorProto): number {
  if (isExternal(t)) {
    const len = externalRef(t).length;
    if (len !== undefined) return len;
  }
  if (t.rawData !== undefined && t.rawData.length > 0) return t.rawData.length;
  if (t.dataType === 8) return (t.stringData ?? []).reduce((s, b) => s + b.length, 0);
  try {
    return Math.ceil((elementCount(t.dims) * elemTypeBits(t.dataType ?? 0)) / 8);
  } catch {
    return 0;
  }
}

function safeCount(t: TensorProto): number {
  try {
    return elementCount(t.dims);
  } catch {
    return 0;
  }
}

export function inspectModel(model: ModelProto, options: { fileBytes?: number } = {}): ModelSummary {
  const graph = model.graph;
  const initNames = new Set((graph?.initializer ?? []).map((t) => t.name ?? ''));
  for (const s of graph?.sparseInitializer ?? []) initNames.add(s.values?.name ?? '');

  const ops = new Map<string, { opType: string; domain: string; count: number }>();
  for (const n of graph?.node ?? []) {
    const domain = n.domain === 'ai.onnx' ? '' : (n.domain ?? '');
    const key = `${domain}\u0000${n.opType ?? ''}`;
    const entry = ops.get(key) ?? { opType: n.opType ?? '', domain, count: 0 };
    entry.count++;
    ops.set(key, entry);
  }
  const opCounts = [...ops.values()].sort((a, b) => b.count - a.count || a.opType.localeCompare(b.opType) || a.domain.localeCompare(b.domain));

  let parameterCount = 0;
  let parameterBytes = 0;
  for (const t of graph?.initializer ?? []) {
    parameterCount += safeCount(t);
    parameterBytes += tensorBytes(t);
  }
  for (const s of graph?.sparseInitializer ?? []) {
    for (const t of [s.values, s.indices]) if (t) parameterBytes += tensorBytes(t);
    if (s.values) parameterCount += safeCount(s.values);
  }

  const external = new Map<string, { location: string; bytes: number; tensors: number }>();
  let mainNodes = 0;
  let allNodes = 0;
  forEachTensor(model, (t) => {
    if (!isExternal(t)) return;
    const location = externalRef(t).location;
    const entry = external.get(location) ?? { location, bytes: 0, tensors: 0 };
    entry.bytes += tensorBytes(t);
    entry.tensors++;
    external.set(location, entry);
  });
  const countNodes = (nodes: NodeProto[]): number => {
    let n = 0;
    for (const node of nodes) {
      n++;
      for (const a of node.attribute ?? []) {
        if (a.g) n += countNodes(a.g.node ?? []);
        for (const g of a.graphs ?? []) n += countNodes(g.node ?? []);
      }
    }
    return n;
  };
  if (graph) {
    mainNodes = (graph.node ?? []).length;
    allNodes = countNodes(graph.node ?? []);
  }

  const summary: ModelSummary = {
    irVersion: model.irVersion === undefined ? null : Number(model.irVersion),
    producerName: model.producerName ?? '',
    producerVersion: model.producerVersion ?? '',
    domain: model.domain ?? '',
    modelVersion: model.modelVersion === undefined ? null : Number(model.modelVersion),
    docString: model.docString ?? '',
    graphName: graph?.name ?? '',
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: Number(o.version ?? 0) })),
    inputs: (graph?.input ?? []).filter((v) => !initNames.has(v.name ?? '')).map(valueSummary),
    outputs: (graph?.output ?? []).map(valueSummary),
    nodeCount: mainNodes,
    opCounts,
    subgraphNodeCount: allNodes - mainNodes,
    initializerCount: (graph?.initializer ?? []).length + (graph?.sparseInitializer ?? []).length,
    parameterCount,
    parameterBytes,
    externalData: [...external.values()],
    functions: (model.functions ?? []).map((f) => `${f.domain ? f.domain + '.' : ''}${f.name ?? ''}`),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((e) => [e.key ?? '', e.value ?? ''])),
  };
  if (options.fileBytes !== undefined) summary.fileBytes = options.fileBytes;
  return summary;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

function shapeText(shape: ValueSummary['shape']): string {
  return shape === null ? '(unknown rank)' : `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** A human-readable report of a summary. */
export function formatSummary(s: ModelSummary): string {
  const lines: string[] = [];
  const producer = [s.producerName, s.producerVersion].filter(Boolean).join(' ') || '(unknown)';
  const info: string[][] = [
    ['producer', producer],
    ['ir version', s.irVersion === null ? '(missing)' : String(s.irVersion)],
    ['opsets', s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ') || '(none)'],
  ];
  if (s.graphName) info.push(['graph', s.graphName]);
  if (s.domain) info.push(['domain', s.domain]);
  if (s.modelVersion !== null) info.push(['model version', String(s.modelVersion)]);
  if (s.fileBytes !== undefined) info.push(['file size', formatBytes(s.fileBytes)]);
  info.push(['parameters', `${formatCount(s.parameterCount)} (${formatBytes(s.parameterBytes)} in ${s.initializerCount} initializers)`]);
  const nodes = `${s.nodeCount}${s.subgraphNodeCount ? ` (+${s.subgraphNodeCount} in subgraphs)` : ''}`;
  info.push(['nodes', nodes]);
  lines.push(...table(info.map(([k, v]) => [`${k}:`, v]), ''));

  const io = (title: string, values: ValueSummary[]): void => {
    lines.push('', `${title} (${values.length})`);
    if (values.length) lines.push(...table([['name', 'dtype', 'shape'], ...values.map((v) => [v.name, v.dtype, shapeText(v.shape)])]));
  };
  io('inputs', s.inputs);
  io('outputs', s.outputs);

  if (s.opCounts.length) {
    lines.push('', `operators (${s.opCounts.length} kinds)`);
    lines.push(...table(s.opCounts.map((o) => [o.domain ? `${o.domain}.${o.opType}` : o.opType, String(o.count)])));
  }
  if (s.externalData.length) {
    lines.push('', 'external data');
    lines.push(...table(s.externalData.map((e) => [e.location, formatBytes(e.bytes), `${e.tensors} tensors`])));
  }
  if (s.functions.length) lines.push('', `functions: ${s.functions.join(', ')}`);
  const meta = Object.entries(s.metadata);
  if (meta.length) {
    lines.push('', 'metadata');
    lines.push(...table(meta.map(([k, v]) => [k, v])));
  }
  return lines.join('\n') + '\n';
}
