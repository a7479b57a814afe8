/**
 * Rewrites done before quantizing, as ORT's quant_pre_process does with its optimizer:
 * BatchNormalization (inference form) folded into the Conv that feeds it, so the folded
 * weights are what gets quantized and no float BatchNormalization is left between QDQ pairs.
 */
import { makeTensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { DataType } from '../../onnx/types.js';
import { Constants, Names, consumers, floatAttr, nodeLabel } from './graph.js';

export function foldBatchNorm(model: ModelProto, baseDir: string | undefined, rewrites: string[]): ModelProto {
  const graph = model.graph!;
  const constants = new Constants(graph, baseDir);
  const names = new Names(graph);
  const users = consumers(graph);
  const graphOutputs = new Set(graph.output.map((o) => o.name));
  const producer = new Map<string, number>();
  graph.node.forEach((n, i) => n.output.forEach((o) => producer.set(o, i)));
  const removed = new Set<number>();
  const replaced = new Map<number, NodeProto>();
  const added: TensorProto[] = [];
  const isFloatConst = (name: string | undefined) => !!name && constants.has(name) && constants.dataType(name) === DataType.FLOAT;
  graph.node.forEach((bn, i) => {
    if (bn.opType !== 'BatchNormalization' || (bn.domain && bn.domain !== 'ai.onnx')) return;
    if (bn.output.slice(1).some((o) => o)) return; // training-mode outputs requested
    const [x, scale, bias, mean, variance] = bn.input;
    if (![scale, bias, mean, variance].every(isFloatConst)) return;
    const pi = producer.get(x);
    if (pi === undefined || removed.has(pi) || replaced.has(pi)) return;
    const conv = graph.node[pi];
    if (conv.opType !== 'Conv' || (conv.domain && conv.domain !== 'ai.onnx')) return;
    if ((users.get(x) ?? []).length !== 1 || graphOutputs.has(x)) return;
    const [cx, w, b] = conv.input;
    if (!isFloatConst(w) || (b && !isFloatConst(b))) return;
    const wDims = constants.dims(w)!;
    const m = wDims[0];
    const gamma = constants.floats(scale);
    const beta = constants.floats(bias);
    const mu = constants.floats(mean);
    const sigma2 = constants.floats(variance);
    if ([gamma, beta, mu, sigma2].some((a) => a.length !== m)) return;
    const eps = floatAttr(bn, 'epsilon', 1e-5);
    const factor = new Float64Array(m);
    for (let c = 0; c < m; c++) factor[c] = gamma[c] / Math.sqrt(sigma2[c] + eps);
    const wData = constants.floats(w);
    const per = wData.length / m;
    const newW = new Float32Array(wData.length);
    for (let c = 0; c < m; c++) for (let j = 0; j < per; j++) newW[c * per + j] = wData[c * per + j] * factor[c];
    const oldB = b ? constants.floats(b) : new Float32Array(m);
    const newB = new Float32Array(m);
    for (let c = 0; c < m; c++) newB[c] = (oldB[c] - mu[c]) * factor[c] + beta[c];
    const wName = names.fresh(`${w}_bn_folded`);
    const bName = names.fresh(`${b || `${nodeLabel(conv, pi)}_bias`}_bn_folded`);
    added.push(makeTensor(wName, 'float32', wDims, newW), makeTensor(bName, 'float32', [m], newB));
    replaced.set(pi, { ...conv, input: [cx, wName, bName], output: [bn.output[0]] });
    removed.add(i);
    rewrites.push(`folded BatchNormalization ${nodeLabel(bn, i)} into Conv ${nodeLabel(conv, pi)}`);
  });
  if (removed.size === 0) return model;
  const node = graph.node.flatMap((n, i) => (removed.has(i) ? [] : [replaced.get(i) ?? n]));
  const usedBy = (ns: NodeProto[]): Set<string> => {
    const used = new Set(ns.flatMap((n) => n.input));
    for (const n of ns) for (const a of n.attribute ?? []) for (const g of [a.g, ...(a.graphs ?? [])]) for (const sn of g?.node ?? []) for (const x of sn.input) used.add(x);
    for (const o of graph.output) used.add(o.name ?? '');
    return used;
  };
  const used = usedBy(node);
  const usedBefore = usedBy(graph.node);
  const drop = (name: string | undefined) => !!name && usedBefore.has(name) && !used.has(name);
  const initializer = [...graph.initializer.filter((t) => !drop(t.name)), ...added];
  const out: GraphProto = {
    ...graph,
    node: node.filter((n) => !(n.opType === 'Constant' && n.output.length === 1 && drop(n.output[0]))),
    initializer,
    input: graph.input.filter((v) => !(drop(v.name) && graph.initializer.some((t) => t.name === v.name))),
  };
  return { ...model, graph: out };
}
