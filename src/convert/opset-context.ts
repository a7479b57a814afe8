/** What an opset adapter sees: the graph being converted, type facts, constants, fresh names. */
import { makeNode, makeValueInfo, type ElemType } from '../onnx/builder.js';
import { elemTypeName, makeTensor as makeAnyTensor } from '../onnx/tensor.js';
import { DataType, type GraphProto, type Int64, type NodeProto, type TensorProto } from '../onnx/types.js';
import { Constants, NameGen, nodeLabel, subgraphOuterRefs } from './graph.js';
import type { TypeMap } from './infer.js';

/** An opset conversion that cannot be done; the message names the node, operator and versions. */
export class OpsetConversionError extends Error {
  override name = 'OpsetConversionError';
}

/** Nodes an adapter adds around the node it rewrites (already in the target opset's form). */
export interface Rewrite {
  before?: NodeProto[];
  after?: NodeProto[];
  /** what was done, for the report (default: the rule's description) */
  note?: string;
}

export type Adapter = (node: NodeProto, cx: AdaptContext) => Rewrite | void;

/** Element types makeValueInfo can write (the ones converters create initializers of). */
const VALUE_INFO_TYPES = new Set<string>(['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string']);

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

function toBigInt(v: Int64): bigint {
  if (typeof v === 'bigint') return v;
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return BigInt(Math.trunc(v));
}

export class AdaptContext {
  /** the boundary being crossed: from → to (opset versions of the operator) */
  step = { from: 0, to: 0 };

  constructor(
    readonly graph: GraphProto,
    readonly types: TypeMap,
    readonly consts: Constants,
    readonly names: NameGen,
    readonly target: number,
    private readonly irVersion: number,
  ) {}

  rank(name: string): number | undefined {
    return this.types.get(name)?.shape?.length;
  }

  shape(name: string): (number | null)[] | undefined {
    return this.types.get(name)?.shape;
  }

  elemType(name: string): number | undefined {
    return this.types.get(name)?.elemType;
  }

  /** Numeric values of a constant input (initializer or Constant node), else undefined. */
  constValues(name: string): number[] | undefined {
    return name ? this.consts.values(name) : undefined;
  }

  /** Raw int64 values of a constant (bigints kept exact), else undefined. */
  constInt64(name: string): Int64[] | undefined {
    const c = name ? this.consts.get(name) : undefined;
    if (!c || c.values === undefined) return undefined;
    const dt = c.tensor.dataType;
    if (dt === DataType.INT64 || dt === DataType.INT32) {
      return c.values.map((v) => (Number.isSafeInteger(v) ? v : toBigInt(v)));
    }
    return c.values;
  }

  /** The error to throw for a node that cannot be converted (use as `throw cx.fail(...)`). */
  fail(node: NodeProto, message: string): OpsetConversionError {
    const op = node.opType ?? '';
    return new OpsetConversionError(`cannot convert ${nodeLabel(node)} from ${op}-${this.step.from} to ${op}-${this.step.to} (target opset ${this.target}): ${message}`);
  }

  /** Adds an initializer under a fresh name derived from `base`; returns the name. */
  addInitializer(base: string, tensor: TensorProto): string {
    const name = this.names.fresh(base);
    const t = { ...tensor, name };
    this.consts.addInitializer(t);
    // IR < 4: every initializer must also be a graph input.
    if (this.irVersion < 4) {
      const typeName = elemTypeName(t.dataType ?? 0);
      if (typeName && VALUE_INFO_TYPES.has(typeName)) this.graph.input.push(makeValueInfo(name, typeName as ElemType, (t.dims ?? []).map(Number)));
    }
    this.types.set(name, { elemType: t.dataType, shape: (t.dims ?? []).map(Number) });
    return name;
  }

  int64s(base: string, values: readonly Int64[], dims?: number[]): string {
    const big = values.map(toBigInt);
    return this.addInitializer(base, makeAnyTensor('', 'int64', dims ?? [big.length], big));
  }

  floats(base: string, values: readonly number[], dims?: number[]): string {
    return this.addInitializer(base, makeAnyTensor('', 'float32', dims ?? [values.length], values));
  }

  /** A scalar of the given element type (float types, integers; bool as 0/1). */
  scalar(base: string, elemType: number, value: number): string {
    const t = elemType === DataType.INT64 || elemType === DataType.UINT64 ? makeAnyTensor('', elemType, [], [BigInt(Math.trunc(value))]) : makeAnyTensor('', elemType, [], [value]);
    return this.addInitializer(base, t);
  }

  /** A fresh value name. */
  value(base: string): string {
    return this.names.fresh(base);
  }

  /** Unsqueeze in the target opset's form (axes as an input from 13). */
  unsqueeze(input: string, axes: number[], output: string): NodeProto[] {
    if (this.target >= 13) return [makeNode('Unsqueeze', [input, this.int64s(`${output}_axes`, axes)], [output])];
    return [makeNode('Unsqueeze', [input], [output], { axes: { ints: axes } })];
  }

  /** Reshape to a constant shape (Reshape has taken the shape as an input since opset 5). */
  reshape(input: string, shape: number[], output: string): NodeProto {
    return makeNode('Reshape', [input, this.int64s(`${output}_shape`, shape)], [output]);
  }

  /** True when `name` feeds any node (or graph output) other than `except`. */
  isUsedElsewhere(name: string, except: NodeProto): boolean {
    if (this.graph.output.some((o) => o.name === name)) return true;
    return this.graph.node.some((n) => n !== except && (n.input.includes(name) || subgraphOuterRefs(n).has(name)));
  }

  isUsed(name: string): boolean {
    if (!name) return false;
    if (this.graph.output.some((o) => o.name === name)) return true;
    return this.graph.node.some((n) => n.input.includes(name) || subgraphOuterRefs(n).has(name));
  }
}
