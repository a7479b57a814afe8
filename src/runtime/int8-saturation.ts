/**
 * Does a model feed full-range int8 weights to onnxruntime's u8s8 kernels? On x86-64 without
 * VNNI those kernels sum pairs of u8 × s8 products in saturating int16 lanes (cpu-features.ts),
 * so a weight beyond [-64, 64] can overflow a pair sum and the output silently loses accuracy.
 *
 * Looked for: DynamicQuantizeMatMul, MatMulInteger and ConvInteger (dynamic quantization),
 * QLinearMatMul / QLinearConv / QGemm, and static QDQ (an int8 weight DequantizeLinear feeding
 * MatMul, Gemm or Conv whose activation comes through an 8-bit DequantizeLinear): the groups
 * onnxruntime fuses into the same kernels. int8 activations count too: on x86 onnxruntime shifts
 * int8 QDQ activations to uint8 (its QDQS8ToU8 transformer) before fusing, which gives u8s8.
 */
import { tensorToArray, type GraphProto, type ModelProto, type TensorProto } from '../onnx/index.js';
import { DataType } from '../onnx/types.js';

export interface SaturationRisk {
  /** labels of the nodes whose int8 weights exceed 7 bits (at most 5 listed) */
  nodes: string[];
  /** how many such nodes */
  count: number;
  /** the largest |weight - zero point| found */
  maxAbs: number;
}

/** Weight input index per op type (activation input 0 must be uint8 for u8s8). */
const WEIGHT_INPUT: Record<string, number> = {
  DynamicQuantizeMatMul: 1,
  MatMulInteger: 1,
  ConvInteger: 1,
  QLinearMatMul: 3,
  QLinearConv: 3,
  QGemm: 3,
};

function largestBeyond7Bits(t: TensorProto, zeroPoint: TensorProto | undefined): number {
  const values = tensorToArray(t) as Int8Array;
  const zps = zeroPoint ? (tensorToArray(zeroPoint) as Int8Array) : undefined;
  let max = 0;
  // per-channel zero points are all 0 for symmetric weights; a nonzero one is applied per tensor
  const zp = zps && zps.length === 1 ? zps[0] : 0;
  for (const v of values) {
    const a = Math.abs(v - zp);
    if (a > max) max = a;
  }
  return max;
}

export function fullRangeU8S8Weights(model: ModelProto): SaturationRisk | undefined {
  const graph: GraphProto | undefined = model.graph;
  if (!graph) return undefined;
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const producer = new Map<string, (typeof graph.node)[number]>();
  for (const n of graph.node) for (const o of n.output) producer.set(o, n);
  const int8 = (name: string | undefined): TensorProto | undefined => {
    const t = name ? inits.get(name) : undefined;
    return t && t.dataType === DataType.INT8 ? t : undefined;
  };
  const byte = (t: TensorProto | undefined): boolean => t === undefined || t.dataType === DataType.UINT8 || t.dataType === DataType.INT8;
  const is8BitActivation = (name: string | undefined): boolean => {
    if (!name) return false;
    const p = producer.get(name);
    if (!p) return false;
    if (p.opType === 'DynamicQuantizeLinear') return true;
    if (p.opType === 'DequantizeLinear' || p.opType === 'QuantizeLinear') {
      return byte(inits.get(p.input[2] ?? ''));
    }
    return false;
  };
  const nodes: string[] = [];
  let count = 0;
  let maxAbs = 0;
  graph.node.forEach((n, index) => {
    const op = n.opType ?? '';
    let weight: TensorProto | undefined;
    let zeroPoint: TensorProto | undefined;
    if (op in WEIGHT_INPUT) {
      weight = int8(n.input[WEIGHT_INPUT[op]]);
      if (op === 'MatMulInteger' || op === 'ConvInteger') zeroPoint = inits.get(n.input[3] ?? '');
      if (op === 'QLinearMatMul' || op === 'QLinearConv' || op === 'QGemm') {
        zeroPoint = inits.get(n.input[5] ?? '');
        if (!n.input[2] || !byte(inits.get(n.input[2]))) weight = undefined;
      }
      // DynamicQuantizeMatMul quantizes A to uint8 itself; the others need a uint8 A
      if ((op === 'MatMulInteger' || op === 'ConvInteger') && !is8BitActivation(n.input[0])) weight = undefined;
    } else if ((op === 'MatMul' || op === 'Gemm' || op === 'Conv') && is8BitActivation(n.input[0])) {
      const dq = producer.get(n.input[1]);
      if (dq?.opType === 'DequantizeLinear') {
        weight = int8(dq.input[0]);
        zeroPoint = inits.get(dq.input[2] ?? '');
      }
    }
    if (!weight) return;
    const m = largestBeyond7Bits(weight, zeroPoint);
    if (m <= 64) return;
    count++;
    maxAbs = Math.max(maxAbs, m);
    if (nodes.length < 5) nodes.push(n.name || `${op}#${index}`);
  });
  return count > 0 ? { nodes, count, maxAbs } : undefined;
}

/** The warning `berth serve` logs once when such a model loads on a CPU without VNNI, naming the fix. */
export function int8RiskMessage(name: string, version: string, risk: SaturationRisk, cpu: string): string {
  const which = `${risk.nodes.join(', ')}${risk.count > risk.nodes.length ? ` and ${risk.count - risk.nodes.length} more` : ''}`;
  return `model '${name}' version ${version} has full-range int8 weights (|w| up to ${risk.maxAbs}, in ${which}) and this CPU has no VNNI (${cpu}): ` +
    `onnxruntime's u8s8 kernels here sum pairs of products in saturating 16-bit lanes, so its outputs lose accuracy. ` +
    `Re-quantize with 7-bit weights: berth quantize MODEL --mode dynamic --target-cpu avx2 (or --reduce-range on)`;
}
