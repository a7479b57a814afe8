/**
 * Graph-editing helpers shared by the converters: attribute access, constant lookup, fresh names,
 * consumer maps and topological order. Everything works on plain ONNX message objects.
 */
import { attributeValue, getAttribute, makeAttribute, type AttributeValue } from '../onnx/builder.js';
import { tensorToArray, makeTensor as makeAnyTensor } from '../onnx/tensor.js';
import { AttributeType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.js';

const utf8 = new TextDecoder();

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return getAttribute(node, name);
}

export function hasAttr(node: NodeProto, name: string): boolean {
  return getAttribute(node, name) !== undefined;
}

export function attrInt(node: NodeProto, name: string): number | undefined;
export function attrInt(node: NodeProto, name: string, fallback: number): number;
export function attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  if (!a) return fallback;
  return Number(a.i ?? 0);
}

export function attrFloat(node: NodeProto, name: string): number | undefined;
export function attrFloat(node: NodeProto, name: string, fallback: number): number;
export function attrFloat(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  if (!a) return fallback;
  if (a.type === AttributeType.INT) return Number(a.i ?? 0);
  return a.f ?? 0;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  if (!a) return undefined;
  return (a.ints ?? []).map((v) => Number(v));
}

export function attrFloats(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  if (!a) return undefined;
  return [...(a.floats ?? [])];
}

export function attrString(node: NodeProto, name: string): string | undefined;
export function attrString(node: NodeProto, name: string, fallback: string): string;
export function attrString(node: NodeProto, name: string, fallback?: string): string | undefined {
  const a = getAttribute(node, name);
  if (!a) return fallback;
  return utf8.decode(a.s ?? new Uint8Array());
}

/** Sets (replacing) an attribute, keeping attributes sorted by name as makeNode does. */
export function setAttr(node: NodeProto, name: string, value: AttributeValue): void {
  const attrs = (node.attribute ?? []).filter((a) => a.name !== name);
  attrs.push(makeAttribute(name, value));
  attrs.sort((a, b) => ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : 0));
  node.attribute = attrs;
}

export function removeAttr(node: NodeProto, name: string): AttributeProto | undefined {
  const a = getAttribute(node, name);
  if (a) node.attribute = node.attribute.filter((x) => x !== a);
  return a;
}

export { attributeValue };

/** 'Conv' or 'Conv (name)' for messages. */
export function nodeLabel(node: NodeProto): string {
  return node.name ? `${node.opType} node '${node.name}'` : `${node.opType} node producing '${node.output[0] ?? ''}'`;
}

/** A deep-enough copy of a node to edit its inputs/outputs/attributes without touching the original. */
export function cloneNode(node: NodeProto): NodeProto {
  return { ...node, input: [...node.input], output: [...node.output], attribute: (node.attribute ?? []).map((a) => ({ ...a })) };
}

/** Unique names: never collides with any value, node or initializer name already in the model. */
export class NameGen {
  private readonly used = new Set<string>();

  constructor(model?: ModelProto) {
    if (model?.graph) this.addGraph(model.graph);
  }

  addGraph(g: GraphProto): void {
    for (const v of [...g.input, ...g.output, ...(g.valueInfo ?? [])]) if (v.name) this.used.add(v.name);
    for (const t of g.initializer) if (t.name) this.used.add(t.name);
    for (const n of g.node) {
      for (const x of [...n.input, ...n.output]) if (x) this.used.add(x);
      if (n.name) this.used.add(n.name);
      for (const a of n.attribute ?? []) {
        if (a.g) this.addGraph(a.g);
        for (const sg of a.graphs ?? []) this.addGraph(sg);
      }
    }
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  fresh(base: string): string {
    const clean = base || 'v';
    if (!this.used.has(clean)) {
      this.used.add(clean);
      return clean;
    }
    for (let i = 1; ; i++) {
      const name = `${clean}_${i}`;
      if (!this.used.has(name)) {
        this.used.add(name);
        return name;
      }
    }
  }
}

/** A constant value: an initializer, or the output of a Constant node. */
export interface ConstValue {
  tensor: TensorProto;
  /** numeric values (int64 as numbers); undefined for strings */
  values: number[] | undefined;
  dims: number[];
}

function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  for (const a of node.attribute ?? []) {
    switch (a.name) {
      case 'value':
        return a.t;
      case 'value_float':
        return makeAnyTensor('', 'float32', [], [a.f ?? 0]);
      case 'value_floats':
        return makeAnyTensor('', 'float32', [(a.floats ?? []).length], a.floats ?? []);
      case 'value_int':
        return makeAnyTensor('', 'int64', [], [BigInt(a.i ?? 0)]);
      case 'value_ints':
        return makeAnyTensor('', 'int64', [(a.ints ?? []).length], (a.ints ?? []).map((v) => BigInt(v)));
      default:
        break;
    }
  }
  return undefined;
}

/** Looks values up by name in one graph: initializers and Constant node outputs. */
export class Constants {
  private readonly inits = new Map<string, TensorProto>();
  private readonly nodes = new Map<string, NodeProto>();

  constructor(private readonly graph: GraphProto) {
    this.refresh();
  }

  refresh(): void {
    this.inits.clear();
    this.nodes.clear();
    for (const t of this.graph.initializer) if (t.name) this.inits.set(t.name, t);
    for (const n of this.graph.node) {
      if (n.opType === 'Constant' && (n.domain ?? '') === '' && n.output[0]) this.nodes.set(n.output[0], n);
    }
  }

  addInitializer(t: TensorProto): void {
    this.graph.initializer.push(t);
    if (t.name) this.inits.set(t.name, t);
  }

  tensor(name: string): TensorProto | undefined {
    if (!name) return undefined;
    const t = this.inits.get(name);
    if (t) return t;
    const n = this.nodes.get(name);
    return n ? constantNodeTensor(n) : undefined;
  }

  get(name: string): ConstValue | undefined {
    const tensor = this.tensor(name);
    if (!tensor) return undefined;
    let values: number[] | undefined;
    try {
      const arr = tensorToArray(tensor);
      values = Array.isArray(arr) ? undefined : Array.from(arr as ArrayLike<number | bigint>, (v) => Number(v));
    } catch {
      return undefined;
    }
    return { tensor, values, dims: (tensor.dims ?? []).map(Number) };
  }

  /** Numeric values of a constant, or undefined when the value is not constant. */
  values(name: string): number[] | undefined {
    return this.get(name)?.values;
  }
}

/** name -> nodes consuming it (including nodes in subgraphs that capture it from the outer scope). */
export function consumers(graph: GraphProto): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>();
  const add = (name: string, node: NodeProto) => {
    if (!name) return;
    let list = map.get(name);
    if (!list) map.set(name, (list = []));
    if (!list.includes(node)) list.push(node);
  };
  for (const n of graph.node) {
    for (const x of n.input) add(x, n);
    for (const name of subgraphOuterRefs(n)) add(name, n);
  }
  return map;
}

/** Names a node's subgraphs read from enclosing scopes. */
export function subgraphOuterRefs(node: NodeProto): Set<string> {
  const out = new Set<string>();
  const visit = (g: GraphProto, outer: Set<string>) => {
    const local = new Set<string>([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
    for (const n of g.node) for (const o of n.output) local.add(o);
    for (const n of g.node) {
      for (const x of n.input) if (x && !local.has(x)) outer.add(x);
      for (const a of n.attribute ?? []) {
        const inner = new Set<string>();
        if (a.g) visit(a.g, inner);
        for (const sg of a.graphs ?? []) visit(sg, inner);
        for (const x of inner) if (!local.has(x)) outer.add(x);
      }
    }
    for (const o of g.output) if (o.name && !local.has(o.name)) outer.add(o.name);
  };
  for (const a of node.attribute ?? []) {
    if (a.g) visit(a.g, out);
    for (const g of a.graphs ?? []) visit(g, out);
  }
  return out;
}

/**
 * Orders nodes so every node comes after the producers of its inputs (stable: keeps the
 * original order where it is already valid). Throws on a cycle.
 */
export function topoSort(graph: GraphProto): void {
  const produced = new Map<string, number>();
  graph.node.forEach((n, i) => n.output.forEach((o) => o && produced.set(o, i)));
  const deps = graph.node.map((n) => {
    const d = new Set<number>();
    for (const x of [...n.input, ...subgraphOuterRefs(n)]) {
      const p = produced.get(x);
      if (p !== undefined) d.add(p);
    }
    return d;
  });
  const state = new Uint8Array(graph.node.length);
  const order: NodeProto[] = [];
  const visit = (i: number) => {
    if (state[i] === 2) return;
    if (state[i] === 1) throw new Error(`the graph has a cycle through ${nodeLabel(graph.node[i])}`);
    state[i] = 1;
    for (const d of deps[i]) if (d !== i) visit(d);
    state[i] = 2;
    order.push(graph.node[i]);
  };
  for (let i = 0; i < graph.node.length; i++) visit(i);
  graph.node = order;
}

/** Renames every use of a value (node inputs, graph outputs, subgraph captures) in a graph. */
export function renameUses(graph: GraphProto, from: string, to: string, options: { outputs?: boolean; skip?: NodeProto } = {}): void {
  const inSub = (g: GraphProto) => {
    const shadow = new Set<string>([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
    for (const n of g.node) for (const o of n.output) shadow.add(o);
    if (shadow.has(from)) return;
    renameUses(g, from, to, { outputs: true });
  };
  for (const n of graph.node) {
    if (n === options.skip) continue;
    n.input = n.input.map((x) => (x === from ? to : x));
    for (const a of n.attribute ?? []) {
      if (a.g) inSub(a.g);
      for (const g of a.graphs ?? []) inSub(g);
    }
  }
  if (options.outputs) for (const o of graph.output) if (o.name === from) o.name = to;
}

/** The default-domain opset version a model imports (undefined when it imports none). */
export function defaultOpset(model: ModelProto): number | undefined {
  const entry = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return entry?.version;
}

export function isDefaultDomain(node: NodeProto): boolean {
  return (node.domain ?? '') === '' || node.domain === 'ai.onnx';
}

/** Every graph of the model with its nesting parent node (undefined for the main graph). */
export function graphsOf(model: ModelProto): GraphProto[] {
  const out: GraphProto[] = [];
  const visit = (g: GraphProto) => {
    out.push(g);
    for (const n of g.node) {
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g);
        for (const sg of a.graphs ?? []) visit(sg);
      }
    }
  };
  if (model.graph) visit(model.graph);
  return out;
}

/** Structured-clone of a model's graph containers (tensor bytes are shared, not copied). */
export function cloneModel(model: ModelProto): ModelProto {
  const cloneGraph = (g: GraphProto): GraphProto => ({
    ...g,
    node: g.node.map((n) => ({
      ...n,
      input: [...n.input],
      output: [...n.output],
      attribute: (n.attribute ?? []).map((a) => {
        const c: AttributeProto = { ...a };
        if (a.g) c.g = cloneGraph(a.g);
        if (a.graphs) c.graphs = a.graphs.map(cloneGraph);
        if (a.ints) c.ints = [...a.ints];
        if (a.floats) c.floats = [...a.floats];
        return c;
      }),
    })),
    initializer: [...g.initializer],
    input: g.input.map((v) => structuredCloneValueInfo(v)),
    output: g.output.map((v) => structuredCloneValueInfo(v)),
    valueInfo: g.valueInfo?.map((v) => structuredCloneValueInfo(v)),
  });
  return { ...model, opsetImport: model.opsetImport.map((o) => ({ ...o })), graph: model.graph ? cloneGraph(model.graph) : undefined };
}

function structuredCloneValueInfo<T extends object>(v: T): T {
  // ValueInfoProto holds only small nested objects (types, shapes): a JSON-free deep copy.
  const copy = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(copy);
    if (x instanceof Uint8Array) return x;
    if (x && typeof x === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(x)) o[k] = copy(val);
      return o;
    }
    return x;
  };
  return copy(v) as T;
}
