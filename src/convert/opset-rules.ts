/**
 * What changed in each ai.onnx operator version, and how to rewrite a node across that change.
 *
 * A rule is keyed `Op@V`: V is the opset in which the operator's definition changed. `up` turns a
 * node written against the previous version into one valid for V; `down` does the reverse. A
 * boundary without a rule only extended type constraints or added optional attributes/inputs
 * whose defaults keep the old behaviour, so crossing it needs no rewrite (the downgrade checks
 * that those attributes/inputs are absent or default — see `newSince`).
 *
 * Facts come from ONNX's operator changelog (docs/Changelog.md) and the schema registry of
 * python3-onnx; behaviour for the tricky cases (legacy broadcasting, Softmax's 2-D coercion,
 * Resize-10 coordinates) is described next to each rule.
 */
import { makeNode } from '../onnx/builder.js';
import { makeTensor as makeAnyTensor } from '../onnx/tensor.js';
import { DataType, type NodeProto } from '../onnx/types.js';
import { attr, attrFloat, attrInt, attrInts, attrString, removeAttr, setAttr } from './graph.js';
import type { Adapter, AdaptContext, Rewrite } from './opset-context.js';

export interface Rule {
  /** the change, in words, for reports and docs */
  what: string;
  up?: Adapter;
  down?: Adapter;
}

export const RULES: Record<string, Rule> = {};

function rule(ops: string | string[], version: number, r: Rule): void {
  for (const op of Array.isArray(ops) ? ops : [ops]) RULES[`${op}@${version}`] = r;
}

// --- small helpers -------------------------------------------------------------------------

function trimInputs(node: NodeProto): void {
  while (node.input.length > 0 && node.input[node.input.length - 1] === '') node.input.pop();
}

function setInput(node: NodeProto, index: number, name: string): void {
  while (node.input.length < index) node.input.push('');
  node.input[index] = name;
  trimInputs(node);
}

/** Down: an attribute added at this version must be absent or at its default; then it is dropped. */
function requireDefault(node: NodeProto, cx: AdaptContext, name: string, def: number | string | number[] | undefined): void {
  const a = attr(node, name);
  if (!a) return;
  let ok: boolean;
  if (def === undefined) ok = false;
  else if (typeof def === 'number') ok = attrFloat(node, name) === def;
  else if (typeof def === 'string') ok = attrString(node, name) === def;
  else ok = (attrInts(node, name) ?? []).every((v) => def.includes(v));
  if (!ok) throw cx.fail(node, `attribute '${name}' has a value the older version cannot express`);
  removeAttr(node, name);
}

/** Down: an input added at this version must be absent. */
function requireNoInput(node: NodeProto, cx: AdaptContext, index: number, what: string): void {
  if (node.input[index]) throw cx.fail(node, `${what} (input ${index}) does not exist in the older version`);
  trimInputs(node);
}

/** Down: an output that the older version does not have must be unused; it is dropped. */
function requireUnusedOutputs(node: NodeProto, cx: AdaptContext, from: number, what: string): void {
  for (let i = from; i < node.output.length; i++) {
    if (cx.isUsed(node.output[i])) throw cx.fail(node, `${what} (output ${i}) is used, and the older version has no such output`);
  }
  node.output = node.output.slice(0, from);
}

/** Moves an ints attribute into an int64 input at `index`. Returns false when the attribute is absent. */
function intsAttrToInput(node: NodeProto, cx: AdaptContext, name: string, index: number): boolean {
  const a = removeAttr(node, name);
  if (!a) return false;
  setInput(node, index, cx.int64s(`${node.output[0]}_${name}`, a.ints ?? []));
  return true;
}

/** Moves a constant int64 input at `index` into an ints attribute. */
function inputToIntsAttr(node: NodeProto, cx: AdaptContext, index: number, name: string): void {
  const src = node.input[index];
  if (!src) return trimInputs(node);
  const values = cx.constInt64(src);
  if (!values) throw cx.fail(node, `its '${name}' input is computed at run time; the older version needs it as a constant attribute`);
  const a = { name, type: 7, ints: values };
  removeAttr(node, name);
  node.attribute.push(a);
  node.attribute.sort((x, y) => ((x.name ?? '') < (y.name ?? '') ? -1 : 1));
  node.input[index] = '';
  trimInputs(node);
}

function constScalar(node: NodeProto, cx: AdaptContext, index: number, what: string): number | undefined {
  const src = node.input[index];
  if (!src) return undefined;
  const v = cx.constValues(src);
  if (!v || v.length !== 1) throw cx.fail(node, `its ${what} input is not a constant scalar; the older version needs it as an attribute`);
  return v[0];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]);

/** Down: the input's element type (when known) must be one the older version accepts. */
function requireTypes(node: NodeProto, cx: AdaptContext, allowed: Set<number>, index = 0): void {
  const t = cx.elemType(node.input[index] ?? '');
  if (t !== undefined && !allowed.has(t)) throw cx.fail(node, `element type ${t} of input ${index} is not supported by the older version`);
}

const floatOnly: Adapter = (node, cx) => requireTypes(node, cx, FLOAT_TYPES);

function normAxis(node: NodeProto, cx: AdaptContext, axis: number, rank: number | undefined): number {
  if (axis >= 0) return axis;
  if (rank === undefined) throw cx.fail(node, `negative axis ${axis} needs the input rank, which is unknown`);
  return axis + rank;
}

// --- 1 → 6: consumed_inputs removed (handled generically by the driver) ------------------------

rule('Cast', 6, {
  what: "'to' changed from a type name string to a DataType number",
  up: (node, cx) => {
    const a = attr(node, 'to');
    if (!a || a.type !== 3) return;
    const name = attrString(node, 'to', '').toUpperCase();
    const map: Record<string, number> = {
      FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10,
      DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15,
    };
    if (!(name in map)) throw cx.fail(node, `unknown type name '${name}'`);
    setAttr(node, 'to', { int: map[name] });
  },
});

rule('Concat', 4, {
  what: "'axis' became required (the old default was 1)",
  up: (node) => {
    if (!attr(node, 'axis')) setAttr(node, 'axis', { int: 1 });
  },
});

rule('Pad', 2, {
  what: "'paddings' renamed 'pads'",
  up: (node) => {
    const a = removeAttr(node, 'paddings');
    if (a) setAttr(node, 'pads', { ints: (a.ints ?? []).map(Number) });
  },
});

rule('Split', 2, {
  what: "the 'split' input became an attribute",
  up: (node, cx) => {
    if (!node.input[1]) return;
    inputToIntsAttr(node, cx, 1, 'split');
  },
});

rule('Reshape', 5, {
  what: "the 'shape' attribute became an input",
  up: (node, cx) => {
    const a = removeAttr(node, 'shape');
    if (!a) throw cx.fail(node, "it has no 'shape' attribute");
    setInput(node, 1, cx.int64s(`${node.output[0]}_shape`, a.ints ?? []));
  },
});

rule('Selu', 6, {
  what: 'default alpha/gamma changed slightly; the old defaults are written explicitly',
  up: (node) => {
    if (!attr(node, 'alpha')) setAttr(node, 'alpha', { float: 1.6732 });
    if (!attr(node, 'gamma')) setAttr(node, 'gamma', { float: 1.0507 });
  },
});

rule('LpPool', 2, {
  what: "'kernel_shape' required; 'p' changed from float to int",
  up: (node, cx) => {
    const p = attr(node, 'p');
    if (p && p.type === 1) setAttr(node, 'p', { int: Math.round(p.f ?? 2) });
    if (!attr(node, 'kernel_shape')) throw cx.fail(node, "LpPool-2 requires 'kernel_shape'");
  },
});

rule('GlobalLpPool', 2, {
  what: "'p' changed from float to int",
  up: (node) => {
    const p = attr(node, 'p');
    if (p && p.type === 1) setAttr(node, 'p', { int: Math.round(p.f ?? 2) });
  },
});

rule('Tile', 6, {
  what: "inputs (tiles, axis) replaced by 'repeats' (one count per dimension)",
  up: (node, cx) => {
    const tiles = constScalar(node, cx, 1, 'tiles');
    const axis = constScalar(node, cx, 2, 'axis');
    const rank = cx.rank(node.input[0]);
    if (tiles === undefined || axis === undefined || rank === undefined) throw cx.fail(node, 'Tile-1 needs constant tiles/axis and a known input rank');
    const repeats = new Array<number>(rank).fill(1);
    repeats[axis] = tiles;
    node.input = [node.input[0], cx.int64s(`${node.output[0]}_repeats`, repeats)];
  },
});

// --- 6 → 7: numpy broadcasting, is_test removed -------------------------------------------------

/**
 * Legacy broadcasting (opset ≤ 6): with broadcast=1, B's shape matches a contiguous run of A's
 * dimensions starting at `axis` (default: aligned to the end, which is numpy's rule). From 7 the
 * rule is numpy's, so when `axis` leaves trailing dimensions B gets trailing 1s.
 */
const legacyBroadcast: Adapter = (node, cx) => {
  const broadcast = attrInt(node, 'broadcast', 0);
  const axisAttr = attrInt(node, 'axis');
  removeAttr(node, 'broadcast');
  removeAttr(node, 'axis');
  if (!broadcast || axisAttr === undefined) {
    return broadcast ? { note: "'broadcast' removed (suffix-aligned broadcasting is numpy broadcasting)" } : undefined;
  }
  const a = node.input[0];
  const b = node.input[1];
  const rankA = cx.rank(a);
  const bConst = cx.consts.get(b);
  const rankB = cx.rank(b) ?? bConst?.dims.length;
  if (rankA === undefined || rankB === undefined) throw cx.fail(node, 'legacy broadcasting with an explicit axis needs both input ranks, which are unknown');
  const axis = axisAttr < 0 ? axisAttr + rankA : axisAttr;
  const trailing = rankA - axis - rankB;
  if (trailing < 0) throw cx.fail(node, `broadcast axis ${axisAttr} does not fit ranks ${rankA} and ${rankB}`);
  if (trailing === 0) return { note: 'broadcast/axis removed (axis already aligned to the end)' };
  const ones = new Array<number>(trailing).fill(1);
  if (bConst && cx.graph.initializer.some((t) => t.name === b) && !cx.graph.input.some((i) => i.name === b)) {
    node.input[1] = cx.addInitializer(`${b}_aligned`, { ...bConst.tensor, dims: [...bConst.dims, ...ones] });
    return { note: `B reshaped with ${trailing} trailing 1s for numpy broadcasting (legacy axis=${axisAttr})` };
  }
  const out = cx.value(`${b}_aligned`);
  const before = cx.unsqueeze(b, ones.map((_, i) => rankB + i), out);
  node.input[1] = out;
  return { before, note: `Unsqueeze inserted: B gets ${trailing} trailing 1s for numpy broadcasting (legacy axis=${axisAttr})` };
};

rule(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less'], 7, {
  what: "legacy 'broadcast'/'axis' attributes removed: numpy-style multidirectional broadcasting",
  up: legacyBroadcast,
});

rule('Gemm', 7, {
  what: "'broadcast' attribute removed (C broadcasts unidirectionally)",
  up: (node) => {
    removeAttr(node, 'broadcast');
  },
});

rule(['BatchNormalization', 'Dropout'], 7, {
  what: "'is_test' attribute removed (inference behaviour)",
  up: (node) => {
    const isTest = attrInt(node, 'is_test');
    removeAttr(node, 'is_test');
    return isTest === 0 ? { note: "'is_test'=0 (training) dropped: the node now has inference behaviour" } : undefined;
  },
});

rule('PRelu', 7, {
  what: 'slope broadcasting became numpy (unidirectional); a per-channel slope [C] gets trailing 1s',
  up: (node, cx) => {
    const x = node.input[0];
    const s = node.input[1];
    const sConst = cx.consts.get(s);
    const sShape = cx.shape(s) ?? sConst?.dims;
    const xShape = cx.shape(x);
    if (sShape && sShape.every((d) => d === 1)) return;
    if (!xShape) throw cx.fail(node, 'the input rank is unknown, so the per-channel slope cannot be aligned');
    const rank = xShape.length;
    if (!sShape) throw cx.fail(node, 'the slope shape is unknown');
    if (sShape.length === rank) return;
    if (sShape.length !== 1 || rank <= 2) return;
    // PRelu-6: a slope of size C applies along the channel axis (1) of an N-D input.
    const ones = new Array<number>(rank - 2).fill(1);
    if (sConst && cx.graph.initializer.some((t) => t.name === s)) {
      node.input[1] = cx.addInitializer(`${s}_per_channel`, { ...sConst.tensor, dims: [sConst.dims[0], ...ones] });
      return { note: `slope [${sShape[0]}] reshaped to [${[sShape[0], ...ones].join(', ')}]` };
    }
    const out = cx.value(`${s}_per_channel`);
    node.input[1] = out;
    return { before: cx.unsqueeze(s, ones.map((_, i) => i + 1), out), note: 'Unsqueeze inserted to align the slope with the channel axis' };
  },
});

rule('Upsample', 7, {
  what: "'height_scale'/'width_scale' replaced by 'scales'",
  up: (node) => {
    const h = attrFloat(node, 'height_scale');
    const w = attrFloat(node, 'width_scale');
    removeAttr(node, 'height_scale');
    removeAttr(node, 'width_scale');
    if (!attr(node, 'scales')) setAttr(node, 'scales', { floats: [1, 1, h ?? 1, w ?? 1] });
  },
});

rule(['GRU', 'LSTM', 'RNN'], 7, {
  what: "'output_sequence' attribute removed (Y is produced when it is listed as an output)",
  up: (node) => {
    removeAttr(node, 'output_sequence');
  },
});

// --- 8: variadic broadcasting, MaxPool indices -------------------------------------------------

rule(['Max', 'Min', 'Sum', 'Mean'], 8, {
  what: 'multidirectional broadcasting added',
  down: (node, cx) => {
    const shapes = node.input.map((x) => cx.shape(x));
    if (shapes.some((s) => !s || s.some((d) => d === null))) throw cx.fail(node, 'input shapes are unknown, so it cannot be shown they need no broadcasting');
    const first = JSON.stringify(shapes[0]);
    if (shapes.some((s) => JSON.stringify(s) !== first)) throw cx.fail(node, 'its inputs broadcast, which the older version does not do');
  },
});

rule('MaxPool', 8, {
  what: "optional Indices output and 'storage_order' added",
  down: (node, cx) => {
    requireDefault(node, cx, 'storage_order', 0);
    requireUnusedOutputs(node, cx, 1, 'Indices');
  },
});

// --- 9 ---------------------------------------------------------------------------------------

rule('BatchNormalization', 9, {
  what: "'spatial' attribute removed (per-channel statistics only)",
  up: (node, cx) => {
    const spatial = attrInt(node, 'spatial', 1);
    if (spatial === 0 && (cx.rank(node.input[0]) ?? 3) > 2) throw cx.fail(node, "spatial=0 (per-element statistics) has no equivalent from opset 9");
    removeAttr(node, 'spatial');
  },
});

rule('Upsample', 9, {
  what: "'scales' attribute became an input",
  up: (node, cx) => {
    const s = removeAttr(node, 'scales');
    if (!s) throw cx.fail(node, "it has no 'scales' attribute");
    setInput(node, 1, cx.floats(`${node.output[0]}_scales`, s.floats ?? []));
  },
  down: (node, cx) => {
    const scales = node.input[1] ? cx.constValues(node.input[1]) : undefined;
    if (!scales) throw cx.fail(node, "its 'scales' input is not constant; Upsample-7 needs an attribute");
    node.input = [node.input[0]];
    setAttr(node, 'scales', { floats: scales });
  },
});

for (const op of ['Gemm', 'MatMul', 'PRelu', 'Greater', 'Less']) rule(op, 9, { what: 'integer types added', down: floatOnly });

rule('Cast', 9, {
  what: 'string types added',
  down: (node, cx) => {
    if (attrInt(node, 'to') === DataType.STRING || cx.elemType(node.input[0]) === DataType.STRING) throw cx.fail(node, 'casts to/from string need opset 9');
  },
});

rule('Scan', 9, {
  what: 'batch axis and sequence_lens removed; scan axes/directions attributes added',
  up: (node, cx) => {
    throw cx.fail(node, 'Scan-8 → Scan-9 changes its batching semantics; not supported');
  },
  down: (node, cx) => {
    throw cx.fail(node, 'Scan-9 → Scan-8 changes its batching semantics; not supported');
  },
});

// --- 10 --------------------------------------------------------------------------------------

rule('AveragePool', 10, { what: "'ceil_mode' added", down: (node, cx) => requireDefault(node, cx, 'ceil_mode', 0) });

rule('MaxPool', 10, {
  what: "'ceil_mode' and 'dilations' added",
  down: (node, cx) => {
    requireDefault(node, cx, 'ceil_mode', 0);
    requireDefault(node, cx, 'dilations', [1]);
  },
});

rule('Dropout', 10, {
  what: 'mask output became bool',
  up: (node, cx) => requireUnusedOutputs(node, cx, 1, 'mask'),
  down: (node, cx) => requireUnusedOutputs(node, cx, 1, 'mask'),
});

rule('Slice', 10, {
  what: "'starts'/'ends'/'axes' attributes became inputs; 'steps' input added",
  up: (node, cx) => {
    const starts = removeAttr(node, 'starts');
    const ends = removeAttr(node, 'ends');
    const axes = removeAttr(node, 'axes');
    if (!starts || !ends) throw cx.fail(node, "it lacks 'starts'/'ends'");
    const base = node.output[0];
    node.input = [node.input[0], cx.int64s(`${base}_starts`, starts.ints ?? []), cx.int64s(`${base}_ends`, ends.ints ?? [])];
    if (axes) node.input.push(cx.int64s(`${base}_axes`, axes.ints ?? []));
  },
  down: (node, cx) => {
    const steps = node.input[4] ? cx.constValues(node.input[4]) : undefined;
    if (node.input[4] && (!steps || steps.some((s) => s !== 1))) throw cx.fail(node, 'steps other than 1 need opset 10');
    if (node.input[4]) node.input[4] = '';
    inputToIntsAttr(node, cx, 3, 'axes');
    inputToIntsAttr(node, cx, 2, 'ends');
    inputToIntsAttr(node, cx, 1, 'starts');
  },
});

rule('TopK', 10, {
  what: "'k' attribute became the input K",
  up: (node, cx) => {
    const k = removeAttr(node, 'k');
    if (!k) throw cx.fail(node, "it has no 'k'");
    setInput(node, 1, cx.int64s(`${node.output[0]}_k`, [k.i ?? 0]));
  },
  down: (node, cx) => {
    const k = constScalar(node, cx, 1, 'K');
    if (k === undefined) throw cx.fail(node, 'it has no K input');
    node.input = [node.input[0]];
    setAttr(node, 'k', { int: k });
  },
});

/** Upsample-9 and Resize-10 compute the same thing with the same inputs. */
rule('Upsample', 10, {
  what: 'Upsample deprecated: replaced by Resize-10 (same inputs and modes)',
  up: (node) => {
    node.opType = 'Resize';
    if (!attr(node, 'mode')) setAttr(node, 'mode', { string: 'nearest' });
  },
});

rule('Resize', 10, {
  what: 'Resize-10 replaces Upsample-9',
  down: (node) => {
    node.opType = 'Upsample';
  },
});

// --- 11 --------------------------------------------------------------------------------------

rule('Clip', 11, {
  what: "'min'/'max' attributes became optional inputs",
  up: (node, cx) => {
    const min = removeAttr(node, 'min');
    const max = removeAttr(node, 'max');
    const t = cx.elemType(node.input[0]) ?? DataType.FLOAT;
    const base = node.output[0];
    node.input = [node.input[0], min ? cx.scalar(`${base}_min`, t, min.f ?? 0) : '', max ? cx.scalar(`${base}_max`, t, max.f ?? 0) : ''];
    trimInputs(node);
  },
  down: (node, cx) => {
    const min = constScalar(node, cx, 1, 'min');
    const max = constScalar(node, cx, 2, 'max');
    node.input = [node.input[0]];
    if (min !== undefined) setAttr(node, 'min', { float: min });
    if (max !== undefined) setAttr(node, 'max', { float: max });
  },
});

rule('Pad', 11, {
  what: "'pads' and 'value' attributes became inputs",
  up: (node, cx) => {
    const pads = removeAttr(node, 'pads');
    const value = removeAttr(node, 'value');
    if (!pads) throw cx.fail(node, "it has no 'pads'");
    const base = node.output[0];
    node.input = [node.input[0], cx.int64s(`${base}_pads`, pads.ints ?? [])];
    const mode = attrString(node, 'mode', 'constant');
    if (value && mode === 'constant' && (value.f ?? 0) !== 0) {
      node.input.push(cx.scalar(`${base}_value`, cx.elemType(node.input[0]) ?? DataType.FLOAT, value.f ?? 0));
    }
  },
  down: (node, cx) => {
    const value = constScalar(node, cx, 2, 'constant_value');
    if (node.input.length > 2) node.input = node.input.slice(0, 2);
    inputToIntsAttr(node, cx, 1, 'pads');
    if (!attr(node, 'pads')) throw cx.fail(node, 'it has no pads');
    if (value !== undefined && value !== 0) setAttr(node, 'value', { float: value });
  },
});

/**
 * Resize-10 maps output coordinates asymmetrically (x_in = x_out / scale) and, for 'nearest',
 * rounds down when upsampling (up when downsampling) — onnxruntime's Resize-10 behaviour. Resize-11
 * expresses that with coordinate_transformation_mode='asymmetric' and nearest_mode, and needs an
 * roi input (ignored outside tf_crop_and_resize).
 */
rule('Resize', 11, {
  what: "'roi' input and coordinate_transformation_mode/nearest_mode added (Resize-10 = asymmetric)",
  up: (node, cx) => {
    const x = node.input[0];
    const scales = node.input[1];
    node.input = [x, cx.floats(`${node.output[0]}_roi`, [], [0]), scales];
    setAttr(node, 'coordinate_transformation_mode', { string: 'asymmetric' });
    if (attrString(node, 'mode', 'nearest') === 'nearest') {
      const s = cx.constValues(scales);
      const down = s !== undefined && s.some((v) => v < 1) && s.every((v) => v <= 1);
      setAttr(node, 'nearest_mode', { string: down ? 'ceil' : 'floor' });
    }
  },
  down: (node, cx) => {
    const ctm = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
    const mode = attrString(node, 'mode', 'nearest');
    if (ctm !== 'asymmetric') throw cx.fail(node, `coordinate_transformation_mode '${ctm}' has no Resize-10 equivalent (only 'asymmetric')`);
    if (mode === 'cubic') throw cx.fail(node, "mode 'cubic' needs opset 11");
    if (node.input[3]) throw cx.fail(node, "a 'sizes' input needs opset 11");
    if (mode === 'nearest') {
      const nm = attrString(node, 'nearest_mode', 'round_prefer_floor');
      const s = cx.constValues(node.input[2] ?? '');
      const down = s !== undefined && s.some((v) => v < 1) && s.every((v) => v <= 1);
      if (nm !== (down ? 'ceil' : 'floor')) throw cx.fail(node, `nearest_mode '${nm}' has no Resize-10 equivalent`);
    }
    for (const a of ['coordinate_transformation_mode', 'nearest_mode', 'cubic_coeff_a', 'exclude_outside', 'extrapolation_value']) removeAttr(node, a);
    node.input = [node.input[0], node.input[2]];
  },
});

rule('Scatter', 11, {
  what: 'Scatter deprecated: replaced by ScatterElements (same semantics)',
  up: (node) => {
    node.opType = 'ScatterElements';
  },
});

rule('ScatterElements', 11, {
  what: 'ScatterElements-11 replaces Scatter-9',
  down: (node) => {
    node.opType = 'Scatter';
  },
});

rule('DepthToSpace', 11, { what: "'mode' added (default DCR = old behaviour)", down: (node, cx) => requireDefault(node, cx, 'mode', 'DCR') });

rule('TopK', 11, {
  what: "'largest'/'sorted' added; negative axis",
  down: (node, cx) => {
    requireDefault(node, cx, 'largest', 1);
    requireDefault(node, cx, 'sorted', 1);
  },
});

rule('Gemm', 11, {
  what: 'C became optional',
  down: (node, cx) => {
    if (node.input[2]) return;
    const t = cx.elemType(node.input[0]);
    if (t === undefined) throw cx.fail(node, 'C is omitted and the element type needed for a zero C is unknown');
    node.input[2] = cx.scalar(`${node.output[0]}_zero_c`, t, 0);
  },
});

rule('Equal', 11, { what: 'float types added', down: (node, cx) => requireTypes(node, cx, new Set([DataType.BOOL, DataType.INT32, DataType.INT64])) });

rule('Constant', 11, {
  what: "'sparse_value' added",
  down: (node, cx) => {
    if (attr(node, 'sparse_value')) throw cx.fail(node, "'sparse_value' needs opset 11");
  },
});

// --- 12 --------------------------------------------------------------------------------------

rule(['ArgMax', 'ArgMin'], 12, { what: "'select_last_index' added", down: (node, cx) => requireDefault(node, cx, 'select_last_index', 0) });
rule(['Clip', 'Max', 'Min', 'MaxPool'], 12, { what: 'integer types added', down: floatOnly });
rule(['ReduceMax', 'ReduceMin'], 12, {
  what: 'int8/uint8 types added',
  down: (node, cx) => {
    const t = cx.elemType(node.input[0]);
    if (t === DataType.INT8 || t === DataType.UINT8) throw cx.fail(node, 'int8/uint8 inputs need opset 12');
  },
});

rule('Dropout', 12, {
  what: "'ratio' attribute became an input; 'training_mode' input and 'seed' added",
  up: (node, cx) => {
    const ratio = removeAttr(node, 'ratio');
    if (ratio) setInput(node, 1, cx.scalar(`${node.output[0]}_ratio`, DataType.FLOAT, ratio.f ?? 0.5));
  },
  down: (node, cx) => {
    // onnxruntime's Dropout-10 returns an all-false mask in inference, Dropout-12 an all-true one.
    requireUnusedOutputs(node, cx, 1, 'mask (its inference value differs before opset 12)');
    if (node.input[2]) {
      const tm = cx.constValues(node.input[2]);
      if (!tm || tm[0] !== 0) throw cx.fail(node, 'training_mode must be a constant false in older versions');
    }
    const ratio = constScalar(node, cx, 1, 'ratio');
    node.input = [node.input[0]];
    removeAttr(node, 'seed');
    if (ratio !== undefined) setAttr(node, 'ratio', { float: ratio });
  },
});

rule('GatherND', 12, { what: "'batch_dims' added", down: (node, cx) => requireDefault(node, cx, 'batch_dims', 0) });

rule('Pow', 12, {
  what: 'exponent may have a different type than the base',
  down: (node, cx) => {
    const a = cx.elemType(node.input[0]);
    const b = cx.elemType(node.input[1]);
    if (a !== undefined && b !== undefined && a !== b) throw cx.fail(node, 'base and exponent types differ, which needs opset 12');
    floatOnly(node, cx);
  },
});

rule('Constant', 12, {
  what: "value_float(s)/value_int(s)/value_string(s) attributes added",
  down: (node, cx) => {
    const tensor = cx.consts.tensor(node.output[0]);
    const s = attr(node, 'value_string') ?? attr(node, 'value_strings');
    if (s) {
      const strings = s.strings ?? (s.s ? [s.s] : []);
      const dims = s.name === 'value_string' ? [] : [strings.length];
      node.attribute = [{ name: 'value', type: 4, t: { dims, dataType: DataType.STRING, stringData: strings } }];
      return;
    }
    if (!tensor || attr(node, 'value')) return;
    node.attribute = [{ name: 'value', type: 4, t: { ...tensor, name: undefined } }];
  },
});

// --- 13: axes as inputs, Softmax semantics ------------------------------------------------------

const axesToInput: Adapter = (node, cx) => {
  intsAttrToInput(node, cx, 'axes', 1);
};
const axesToAttr: Adapter = (node, cx) => {
  if (attrInt(node, 'noop_with_empty_axes', 0) === 1) {
    const axes = node.input[1] ? cx.constValues(node.input[1]) : [];
    if (!axes || axes.length === 0) throw cx.fail(node, 'noop_with_empty_axes=1 with empty axes has no older equivalent');
  }
  removeAttr(node, 'noop_with_empty_axes');
  inputToIntsAttr(node, cx, 1, 'axes');
};

rule(['Squeeze', 'Unsqueeze'], 13, { what: "'axes' attribute became an input", up: axesToInput, down: axesToAttr });
rule('ReduceSum', 13, { what: "'axes' attribute became an input; 'noop_with_empty_axes' added", up: axesToInput, down: axesToAttr });
rule(['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare'], 18, {
  what: "'axes' attribute became an input; 'noop_with_empty_axes' added",
  up: axesToInput,
  down: axesToAttr,
});

rule('Split', 13, {
  what: "'split' attribute became an input",
  up: (node, cx) => {
    intsAttrToInput(node, cx, 'split', 1);
  },
  down: (node, cx) => inputToIntsAttr(node, cx, 1, 'split'),
});

/**
 * Before 13, Softmax/LogSoftmax/Hardmax flatten the input to 2-D at `axis` (default 1) and
 * normalize over everything after it; from 13 they normalize over the single `axis` (default -1).
 * The two agree when axis is the last dimension; otherwise the upgrade keeps the old meaning with
 * Flatten → op(axis=-1) → Reshape back, and the downgrade keeps the new meaning by moving the
 * axis last with Transpose.
 */
function softmaxUp(node: NodeProto, cx: AdaptContext): Rewrite | void {
  const x = node.input[0];
  const rank = cx.rank(x);
  const axis = attrInt(node, 'axis', 1);
  const last = rank !== undefined && (axis === -1 || axis === rank - 1);
  if (last) {
    setAttr(node, 'axis', { int: axis });
    return { note: 'axis is the last dimension: same result' };
  }
  const y = node.output[0];
  const flat = cx.value(`${y}_2d_in`);
  const flatOut = cx.value(`${y}_2d_out`);
  const shape = cx.value(`${y}_shape`);
  const before = [makeNode('Flatten', [x], [flat], { axis: { int: axis } }), makeNode('Shape', [x], [shape])];
  node.input[0] = flat;
  node.output[0] = flatOut;
  setAttr(node, 'axis', { int: -1 });
  const after = [makeNode('Reshape', [flatOut, shape], [y])];
  return { before, after, note: `axis ${axis} is not the last dimension: Flatten(axis=${axis}) → ${node.opType}(axis=-1) → Reshape keeps the 2-D semantics` };
}

function softmaxDown(node: NodeProto, cx: AdaptContext): Rewrite | void {
  const x = node.input[0];
  const rank = cx.rank(x);
  const axis = attrInt(node, 'axis', -1);
  if (axis === -1 && cx.target >= 11) {
    setAttr(node, 'axis', { int: -1 });
    return;
  }
  if (rank === undefined) throw cx.fail(node, 'the input rank is unknown, so the single-axis semantics cannot be kept');
  const a = axis < 0 ? axis + rank : axis;
  if (a === rank - 1) {
    setAttr(node, 'axis', { int: a });
    return;
  }
  const perm = [...Array(rank).keys()].filter((i) => i !== a).concat([a]);
  const inv = new Array<number>(rank);
  perm.forEach((p, i) => (inv[p] = i));
  const y = node.output[0];
  const tIn = cx.value(`${y}_axis_last_in`);
  const tOut = cx.value(`${y}_axis_last_out`);
  node.input[0] = tIn;
  node.output[0] = tOut;
  setAttr(node, 'axis', { int: rank - 1 });
  return {
    before: [makeNode('Transpose', [x], [tIn], { perm: { ints: perm } })],
    after: [makeNode('Transpose', [tOut], [y], { perm: { ints: inv } })],
    note: `axis ${axis} moved last with Transpose to keep single-axis semantics`,
  };
}

rule(['Softmax', 'LogSoftmax', 'Hardmax'], 13, {
  what: 'axis semantics: 2-D coercion at axis (default 1) became a single axis (default -1)',
  up: softmaxUp,
  down: softmaxDown,
});

// --- 14–16 -----------------------------------------------------------------------------------

rule('BatchNormalization', 14, {
  what: "'training_mode' added; running statistics outputs only in training mode",
  up: (node, cx) => {
    if (node.output.length > 1) {
      requireUnusedOutputs(node, cx, 1, 'mean/var statistics');
      return { note: 'unused statistics outputs removed (inference mode has only Y)' };
    }
  },
  down: (node, cx) => requireDefault(node, cx, 'training_mode', 0),
});

rule('BatchNormalization', 15, {
  what: 'scale/bias and mean/var may have types different from X',
  down: (node, cx) => {
    const t = cx.elemType(node.input[0]);
    for (let i = 1; i < node.input.length; i++) {
      const u = cx.elemType(node.input[i]);
      if (t !== undefined && u !== undefined && u !== t) throw cx.fail(node, `input ${i} has a different element type than X, which needs opset 15`);
    }
  },
});

rule('Equal', 19, {
  what: 'string inputs added',
  down: (node, cx) => {
    if (cx.elemType(node.input[0]) === DataType.STRING) throw cx.fail(node, 'string inputs need opset 19');
  },
});

rule('Reshape', 14, { what: "'allowzero' added", down: (node, cx) => requireDefault(node, cx, 'allowzero', 0) });
rule(['GRU', 'LSTM', 'RNN'], 14, { what: "'layout' added", down: (node, cx) => requireDefault(node, cx, 'layout', 0) });

const SMALL_INTS = new Set<number>([DataType.INT8, DataType.INT16, DataType.UINT8, DataType.UINT16]);
rule(['Add', 'Sub', 'Mul', 'Div'], 14, {
  what: 'int8/int16/uint8/uint16 types added',
  down: (node, cx) => {
    const t = cx.elemType(node.input[0]);
    if (t !== undefined && SMALL_INTS.has(t)) throw cx.fail(node, '8/16-bit integer inputs need opset 14');
  },
});
rule('Relu', 14, { what: 'signed integer types added', down: floatOnly });

rule('Shape', 15, {
  what: "'start'/'end' added",
  down: (node, cx) => {
    if (attr(node, 'end')) throw cx.fail(node, "'end' needs opset 15");
    requireDefault(node, cx, 'start', 0);
  },
});

rule(['ScatterElements', 'ScatterND'], 16, { what: "'reduction' added", down: (node, cx) => requireDefault(node, cx, 'reduction', 'none') });

rule('RoiAlign', 16, {
  what: "'coordinate_transformation_mode' added; its default 'half_pixel' differs from the old behaviour",
  up: (node) => {
    if (!attr(node, 'coordinate_transformation_mode')) setAttr(node, 'coordinate_transformation_mode', { string: 'output_half_pixel' });
  },
  down: (node, cx) => requireDefault(node, cx, 'coordinate_transformation_mode', 'output_half_pixel'),
});

// --- 18–21 -----------------------------------------------------------------------------------

rule('Split', 18, {
  what: "'num_outputs' added; either it or the 'split' input must be given",
  up: (node) => {
    if (!node.input[1]) setAttr(node, 'num_outputs', { int: node.output.length });
  },
  down: (node, cx) => {
    const n = attrInt(node, 'num_outputs');
    removeAttr(node, 'num_outputs');
    if (n === undefined || node.input[1]) return;
    const shape = cx.shape(node.input[0]);
    const axisAttr = attrInt(node, 'axis', 0);
    const axis = shape ? (axisAttr < 0 ? axisAttr + shape.length : axisAttr) : -1;
    const dim = shape?.[axis];
    if (dim === null || dim === undefined) throw cx.fail(node, 'num_outputs with an unknown split dimension cannot be expressed before opset 18');
    if (dim % n === 0) return;
    const chunk = Math.ceil(dim / n);
    const sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - chunk * i)));
    node.input[1] = cx.int64s(`${node.output[0]}_split`, sizes);
  },
});

rule('Pad', 18, { what: "'axes' input added", down: (node, cx) => requireNoInput(node, cx, 3, 'axes') });
rule('Pad', 19, {
  what: "'wrap' mode added",
  down: (node, cx) => {
    if (attrString(node, 'mode', 'constant') === 'wrap') throw cx.fail(node, "mode 'wrap' needs opset 19");
  },
});

rule('Resize', 13, {
  what: "'roi' and 'scales' became optional",
  down: (node, cx) => {
    if (!node.input[1]) node.input[1] = cx.floats(`${node.output[0]}_roi`, [], [0]);
    if (!node.input[2]) node.input[2] = cx.floats(`${node.output[0]}_scales`, [], [0]);
  },
});

rule('Resize', 18, {
  what: "'antialias', 'axes', 'keep_aspect_ratio_policy' added",
  down: (node, cx) => {
    requireDefault(node, cx, 'antialias', 0);
    requireDefault(node, cx, 'keep_aspect_ratio_policy', 'stretch');
    if (attr(node, 'axes')) throw cx.fail(node, "'axes' needs opset 18");
  },
});
rule('Resize', 19, {
  what: "'half_pixel_symmetric' coordinate mode added",
  down: (node, cx) => {
    if (attrString(node, 'coordinate_transformation_mode', 'half_pixel') === 'half_pixel_symmetric') throw cx.fail(node, "'half_pixel_symmetric' needs opset 19");
  },
});

rule(['ScatterElements', 'ScatterND'], 18, {
  what: "'max'/'min' reductions added",
  down: (node, cx) => {
    const r = attrString(node, 'reduction', 'none');
    if (r === 'max' || r === 'min') throw cx.fail(node, `reduction '${r}' needs opset 18`);
  },
});

rule('LpPool', 18, { what: "'ceil_mode' added", down: (node, cx) => requireDefault(node, cx, 'ceil_mode', 0) });
rule('AveragePool', 19, { what: "'dilations' added", down: (node, cx) => requireDefault(node, cx, 'dilations', [1]) });
rule(['Cast', 'CastLike'], 19, { what: "'saturate' added (float8 only)", down: (node) => void removeAttr(node, 'saturate') });
rule(['ReduceMax', 'ReduceMin'], 20, {
  what: 'bool inputs added',
  down: (node, cx) => {
    if (cx.elemType(node.input[0]) === DataType.BOOL) throw cx.fail(node, 'bool inputs need opset 20');
  },
});

rule('GridSample', 20, {
  what: "modes renamed ('bilinear' → 'linear', 'bicubic' → 'cubic'); N-D inputs",
  up: (node) => {
    const m = attrString(node, 'mode', 'bilinear');
    setAttr(node, 'mode', { string: m === 'bicubic' ? 'cubic' : m === 'bilinear' ? 'linear' : m });
  },
  down: (node, cx) => {
    const m = attrString(node, 'mode', 'linear');
    if ((cx.rank(node.input[0]) ?? 4) !== 4) throw cx.fail(node, 'only 4-D inputs before opset 20');
    setAttr(node, 'mode', { string: m === 'cubic' ? 'bicubic' : m === 'linear' ? 'bilinear' : m });
  },
});

rule('DFT', 20, {
  what: "'axis' attribute became an input (default changed from 1 to -2)",
  up: (node, cx) => {
    const axis = attrInt(node, 'axis', 1);
    removeAttr(node, 'axis');
    setInput(node, 2, cx.int64s(`${node.output[0]}_axis`, [axis], []));
  },
  down: (node, cx) => {
    const axis = node.input[2] ? constScalar(node, cx, 2, 'axis') : -2;
    if (axis === undefined) throw cx.fail(node, 'axis input is not constant');
    const rank = cx.rank(node.input[0]);
    node.input = node.input.slice(0, 2);
    trimInputs(node);
    setAttr(node, 'axis', { int: axis < 0 ? normAxis(node, cx, axis, rank) : axis });
  },
});

rule(['QuantizeLinear', 'DequantizeLinear'], 13, {
  what: "per-axis quantization ('axis', 1-D scale/zero point)",
  down: (node, cx) => {
    const s = cx.shape(node.input[1]);
    if (s && s.length > 0 && s[0] !== 1) throw cx.fail(node, 'per-axis quantization needs opset 13');
    removeAttr(node, 'axis');
  },
});
rule(['QuantizeLinear', 'DequantizeLinear'], 19, {
  what: "float16/bfloat16 scales, float8 types, 'saturate'",
  down: (node, cx) => {
    const t = cx.elemType(node.input[1]);
    if (t !== undefined && t !== DataType.FLOAT) throw cx.fail(node, 'non-float32 scales need opset 19');
    removeAttr(node, 'saturate');
  },
});
rule(['QuantizeLinear', 'DequantizeLinear'], 21, {
  what: "blocked quantization ('block_size'), 'output_dtype', 4/16-bit types",
  down: (node, cx) => {
    requireDefault(node, cx, 'block_size', 0);
    if (attr(node, 'output_dtype')) throw cx.fail(node, "'output_dtype' needs opset 21");
  },
});

rule('GroupNormalization', 21, {
  what: "scale/bias changed from per-group [G] to per-channel [C]; 'stash_type' added",
  up: (node, cx) => {
    const g = attrInt(node, 'num_groups');
    const c = cx.shape(node.input[0])?.[1];
    if (!g || !c) throw cx.fail(node, 'the channel count is unknown, so per-group scale/bias cannot be expanded');
    const per = c / g;
    for (const i of [1, 2]) {
      const v = cx.constValues(node.input[i]);
      if (!v) throw cx.fail(node, 'scale/bias are not constants');
      const expanded = v.flatMap((x) => new Array<number>(per).fill(x));
      const tensor = cx.consts.tensor(node.input[i])!;
      node.input[i] = cx.addInitializer(`${node.input[i]}_per_channel`, { ...tensorOf(tensor.dataType ?? 1, expanded), dims: [c] });
    }
  },
  down: (node, cx) => {
    requireDefault(node, cx, 'stash_type', 1);
    const g = attrInt(node, 'num_groups');
    if (!g) throw cx.fail(node, 'num_groups is missing');
    for (const i of [1, 2]) {
      const v = cx.constValues(node.input[i]);
      if (!v) throw cx.fail(node, 'scale/bias are not constants');
      const per = v.length / g;
      const groups = Array.from({ length: g }, (_, k) => v[k * per]);
      if (v.some((x, j) => x !== groups[Math.floor(j / per)])) throw cx.fail(node, 'per-channel scale/bias differ within a group; GroupNormalization-18 cannot express that');
      const tensor = cx.consts.tensor(node.input[i])!;
      node.input[i] = cx.addInitializer(`${node.input[i]}_per_group`, { ...tensorOf(tensor.dataType ?? 1, groups), dims: [g] });
    }
  },
});

function tensorOf(dataType: number, values: number[]) {
  return makeAnyTensor('', dataType, [values.length], values);
}

/** Operators whose axis attributes may be negative from opset 11 (and not before). */
export const NEGATIVE_AXIS_SINCE_11 = new Set([
  'ArgMax', 'ArgMin', 'Compress', 'Concat', 'Flatten', 'Gather', 'Hardmax', 'LogSoftmax', 'OneHot', 'ReduceL1', 'ReduceL2',
  'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare',
  'Scatter', 'Softmax', 'Split', 'Squeeze', 'TopK', 'Unsqueeze',
]);

/** Down across 11: negative axes must become non-negative (needs the rank). */
export function normalizeNegativeAxes(node: NodeProto, cx: AdaptContext): string | undefined {
  const rank = cx.rank(node.input[0]);
  const axis = attrInt(node, 'axis');
  let changed = false;
  if (axis !== undefined && axis < 0) {
    setAttr(node, 'axis', { int: normAxis(node, cx, axis, rank) });
    changed = true;
  }
  const axes = attrInts(node, 'axes');
  if (axes && axes.some((a) => a < 0)) {
    const r = node.opType === 'Unsqueeze' ? (rank === undefined ? undefined : rank + axes.length) : rank;
    setAttr(node, 'axes', { ints: axes.map((a) => normAxis(node, cx, a, r)) });
    changed = true;
  }
  return changed ? 'negative axes made non-negative' : undefined;
}
