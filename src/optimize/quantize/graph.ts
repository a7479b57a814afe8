/**
 * Graph bookkeeping shared by the quantization modes: constants (initializers and Constant
 * nodes), consumers, unique names, attributes, opsets, and a rewriter that builds the output
 * graph without modifying the input model.
 */
import {
  attributeValue,
  elementCount,
  float16ToFloat32,
  getAttribute,
  tensorToArray,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../../onnx/index.js';
import { DataType } from '../../onnx/types.js';
import { isExternal, externalRef, readExternalSync } from '../../onnx/external.js';
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

export const MS_DOMAIN = 'com.microsoft';

/** A node's label in reports and for --exclude: its name, or OpType#index when it has none. */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? node.name : `${node.opType ?? '?'}#${index}`;
}

export function intAttr(node: NodeProto, name: string, dflt: number): number {
  const a = getAttribute(node, name);
  if (!a) return dflt;
  const v = attributeValue(a);
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : dflt;
}

export function floatAttr(node: NodeProto, name: string, dflt: number): number {
  const a = getAttribute(node, name);
  if (!a) return dflt;
  const v = attributeValue(a);
  return typeof v === 'number' ? v : dflt;
}

/** The version of the default (ai.onnx) opset the model imports; 0 when none. */
export function onnxOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry?.version ?? 0;
}

/** Bytes a tensor's data takes (in memory or in its external file). */
export function tensorBytes(t: TensorProto): number {
  if (isExternal(t)) {
    const ref = externalRef(t);
    if (ref.length !== undefined) return ref.length;
  }
  const type = t.dataType ?? 0;
  let n: number;
  try {
    n = elementCount(t.dims);
  } catch {
    return 0;
  }
  const bits: Record<number, number> = {
    [DataType.FLOAT]: 32, [DataType.UINT8]: 8, [DataType.INT8]: 8, [DataType.UINT16]: 16, [DataType.INT16]: 16,
    [DataType.INT32]: 32, [DataType.INT64]: 64, [DataType.BOOL]: 8, [DataType.FLOAT16]: 16, [DataType.DOUBLE]: 64,
    [DataType.UINT32]: 32, [DataType.UINT64]: 64, [DataType.BFLOAT16]: 16, [DataType.UINT4]: 4, [DataType.INT4]: 4,
  };
  if (type === DataType.STRING) return (t.stringData ?? []).reduce((s, b) => s + b.length, 0);
  return Math.ceil((n * (bits[type] ?? 8)) / 8);
}

/** Total bytes of a graph's initializers. */
export function initializerBytes(graph: GraphProto | undefined): number {
  let n = 0;
  for (const t of graph?.initializer ?? []) n += tensorBytes(t);
  return n;
}

/**
 * Constants of the main graph: initializers and outputs of Constant nodes (value attribute).
 * Values are read lazily, one tensor at a time (external data from `baseDir`).
 */
export class Constants {
  readonly tensors = new Map<string, TensorProto>();
  /** Constant node (by output name) that produced a constant, so it can be dropped when unused */
  readonly constantNodes = new Map<string, NodeProto>();

  constructor(graph: GraphProto, private readonly baseDir?: string) {
    for (const t of graph.initializer) if (t.name) this.tensors.set(t.name, t);
    for (const node of graph.node) {
      if (node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx') && node.output.length === 1) {
        const value = getAttribute(node, 'value');
        if (value?.t) {
          this.tensors.set(node.output[0], { ...value.t, name: node.output[0] });
          this.constantNodes.set(node.output[0], node);
        }
      }
    }
  }

  has(name: string): boolean {
    return name !== '' && this.tensors.has(name);
  }

  get(name: string): TensorProto | undefined {
    return this.tensors.get(name);
  }

  dims(name: string): number[] | undefined {
    return this.tensors.get(name)?.dims?.map(Number);
  }

  dataType(name: string): number | undefined {
    return this.tensors.get(name)?.dataType;
  }

  /**
   * A FLOAT (or FLOAT16/DOUBLE) constant's values as float32. READ-ONLY: for float32 data
   * whose bytes are suitably aligned this is a view of the tensor's raw data (or of the bytes
   * just read from its external file), so no second copy of a large weight is made.
   */
  floats(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`'${name}' is not a constant`);
    if (t.dataType === DataType.FLOAT && LITTLE_ENDIAN) {
      const n = elementCount(t.dims);
      const bytes = isExternal(t) && this.baseDir !== undefined ? readExternalSync(t, this.baseDir) : isExternal(t) ? undefined : t.rawData;
      if (bytes && bytes.length === n * 4 && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    }
    const values = tensorToArray(t, { baseDir: this.baseDir });
    if (t.dataType === DataType.FLOAT) return values as Float32Array;
    if (t.dataType === DataType.FLOAT16) return float16ToFloat32(values as Uint16Array);
    if (t.dataType === DataType.DOUBLE) return Float32Array.from(values as Float64Array);
    throw new Error(`constant '${name}' is not a float tensor`);
  }
}

/** Names of every value and node in a graph, to make new names that collide with none. */
export class Names {
  private readonly used = new Set<string>();

  constructor(graph: GraphProto) {
    for (const v of [...graph.input, ...graph.output, ...(graph.valueInfo ?? [])]) if (v.name) this.used.add(v.name);
    for (const t of graph.initializer) if (t.name) this.used.add(t.name);
    for (const n of graph.node) {
      for (const x of [...n.input, ...n.output]) if (x) this.used.add(x);
      if (n.name) this.used.add(n.name);
    }
  }

  /** `base`, or `base_1`, `base_2`, ... whichever is free; reserves it. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

/** For each value name, the indices of the nodes reading it. */
export function consumers(graph: GraphProto): Map<string, number[]> {
  const map = new Map<string, number[]>();
  graph.node.forEach((n, i) => {
    for (const x of n.input) {
      if (!x) continue;
      const list = map.get(x);
      if (list) list.push(i);
      else map.set(x, [i]);
    }
  });
  return map;
}

/** For each value name, the index of the node producing it. */
export function producers(graph: GraphProto): Map<string, number> {
  const map = new Map<string, number>();
  graph.node.forEach((n, i) => {
    for (const x of n.output) if (x) map.set(x, i);
  });
  return map;
}

/**
 * Builds the output graph: nodes are emitted in the input's order, each preceded by the nodes
 * inserted before it (quantization of its inputs) and followed by those inserted after it.
 * Initializers that no node reads any more are dropped at the end (with their graph inputs, for
 * models that list initializers as inputs).
 */
export class GraphRewriter {
  private readonly before = new Map<number, NodeProto[]>();
  private readonly after = new Map<number, NodeProto[]>();
  private readonly replaced = new Map<number, NodeProto[]>();
  private readonly atStart: NodeProto[] = [];
  private readonly newInitializers: TensorProto[] = [];
  private readonly removed = new Set<number>();

  constructor(readonly graph: GraphProto) {}

  insertBefore(index: number, ...nodes: NodeProto[]): void {
    const list = this.before.get(index) ?? [];
    list.push(...nodes);
    this.before.set(index, list);
  }

  insertAfter(index: number, ...nodes: NodeProto[]): void {
    const list = this.after.get(index) ?? [];
    list.push(...nodes);
    this.after.set(index, list);
  }

  insertAtStart(...nodes: NodeProto[]): void {
    this.atStart.push(...nodes);
  }

  /** Replaces node `index` by `nodes` (an empty list removes it). */
  replace(index: number, nodes: NodeProto[]): void {
    this.replaced.set(index, nodes);
  }

  remove(index: number): void {
    this.removed.add(index);
  }

  addInitializer(t: TensorProto): void {
    this.newInitializers.push(t);
  }

  /** The rewritten graph; `renameInputs` maps, per node index, old input names to new ones. */
  build(renameInputs?: (node: NodeProto, index: number) => NodeProto): GraphProto {
    const nodes: NodeProto[] = [...this.atStart];
    this.graph.node.forEach((node, i) => {
      nodes.push(...(this.before.get(i) ?? []));
      if (!this.removed.has(i)) {
        const repl = this.replaced.get(i);
        if (repl) nodes.push(...repl);
        else nodes.push(renameInputs ? renameInputs(node, i) : node);
      }
      nodes.push(...(this.after.get(i) ?? []));
    });
    const usedBy = (ns: NodeProto[]): Set<string> => {
      const used = new Set<string>();
      const visit = (list: NodeProto[]): void => {
        for (const n of list) {
          for (const x of n.input) if (x) used.add(x);
          // subgraphs may read outer-scope values
          for (const a of n.attribute ?? []) {
            if (a.g) visit(a.g.node ?? []);
            for (const g of a.graphs ?? []) visit(g.node ?? []);
          }
        }
      };
      visit(ns);
      for (const o of this.graph.output) if (o.name) used.add(o.name);
      return used;
    };
    const used = usedBy(nodes);
    // Only what the rewrite made unused goes: an initializer (or Constant) the input model
    // already left unused is not ours to remove.
    const usedBefore = usedBy(this.graph.node);
    const drop = (name: string) => usedBefore.has(name) && !used.has(name);
    const initializer = [
      ...this.graph.initializer.filter((t) => !drop(t.name ?? '')),
      ...this.newInitializers.filter((t) => used.has(t.name ?? '')),
    ];
    const dropped = new Set(this.graph.initializer.map((t) => t.name ?? '').filter((n) => drop(n)));
    const live = nodes.filter((n) => !(n.opType === 'Constant' && n.output.length === 1 && drop(n.output[0])));
    const out: GraphProto = {
      ...this.graph,
      node: live,
      initializer,
      input: this.graph.input.filter((v) => !dropped.has(v.name ?? '')),
    };
    if (this.graph.valueInfo) out.valueInfo = this.graph.valueInfo.filter((v) => !dropped.has(v.name ?? ''));
    return out;
  }
}

/** Adds an opset import (domain, version) to a model copy when missing. */
export function withOpset(model: ModelProto, domain: string, version: number): ModelProto {
  if (model.opsetImport.some((o) => (o.domain ?? '') === domain)) return model;
  return { ...model, opsetImport: [...model.opsetImport, { domain, version }] };
}

/** The element type a value is declared with (graph inputs/outputs/value_info), if any. */
export function declaredElemType(graph: GraphProto, name: string): number | undefined {
  for (const v of [...graph.input, ...graph.output, ...(graph.valueInfo ?? [])]) {
    if (v.name === name) return v.type?.tensorType?.elemType;
  }
  return undefined;
}
