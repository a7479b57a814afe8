/**
 * Writes the trained MLP as ONNX with berth's own `onnx/` builder:
 *
 *   pixels [batch,64] → MatMul → Add → Relu → MatMul → Add → logits
 *   logits → Softmax(axis=1) → probabilities [batch,10]
 *   logits → ArgMax(axis=1, keepdims=0) → label [batch] (int64)
 *
 * The input is raw 0–16 pixels so a user can send a CSV row as is. The 1/16 scaling is folded
 * into the first weight matrix instead of a Mul node: scaling by a power of two is exact in
 * float32, so the folded graph computes bit for bit what a separate Mul would, one op cheaper.
 */
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel, type ModelProto } from '../../onnx/index.js';
import { INPUT_SCALE, type Mlp } from './train.js';

export const INPUT_NAME = 'pixels';
export const PROBABILITIES_NAME = 'probabilities';
export const LABEL_NAME = 'label';
export const OPSET = 13;
export const IR_VERSION = 8;
/** metadata_props key holding the held-out accuracy measured at training time */
export const ACCURACY_KEY = 'berth.test_accuracy';

export interface ExportInfo {
  /** held-out accuracy, recorded in the model so a reused model can still report it */
  testAccuracy?: number;
  testRows?: number;
}

export function buildDigitsModel(mlp: Mlp, info: ExportInfo = {}): ModelProto {
  const { inputs, hidden, classes } = mlp;
  const w1 = mlp.w1.map((w) => w * INPUT_SCALE);
  const initializers = [
    makeTensor('fc1.weight', 'float32', [inputs, hidden], w1),
    makeTensor('fc1.bias', 'float32', [hidden], mlp.b1),
    makeTensor('fc2.weight', 'float32', [hidden, classes], mlp.w2),
    makeTensor('fc2.bias', 'float32', [classes], mlp.b2),
  ];
  const nodes = [
    makeNode('MatMul', [INPUT_NAME, 'fc1.weight'], ['fc1.matmul'], {}, { name: 'fc1_matmul' }),
    makeNode('Add', ['fc1.matmul', 'fc1.bias'], ['fc1.out'], {}, { name: 'fc1_add' }),
    makeNode('Relu', ['fc1.out'], ['hidden'], {}, { name: 'relu' }),
    makeNode('MatMul', ['hidden', 'fc2.weight'], ['fc2.matmul'], {}, { name: 'fc2_matmul' }),
    makeNode('Add', ['fc2.matmul', 'fc2.bias'], ['logits'], {}, { name: 'fc2_add' }),
    makeNode('Softmax', ['logits'], [PROBABILITIES_NAME], { axis: { int: 1 } }, { name: 'softmax' }),
    // ArgMax of the logits, not the probabilities: same answer, without softmax rounding
    // two nearly equal scores to a tie.
    makeNode('ArgMax', ['logits'], [LABEL_NAME], { axis: { int: 1 }, keepdims: { int: 0 } }, { name: 'argmax' }),
  ];
  const graph = makeGraph({
    name: 'digits_mlp',
    nodes,
    inputs: [makeValueInfo(INPUT_NAME, 'float32', ['batch', inputs])],
    outputs: [
      makeValueInfo(PROBABILITIES_NAME, 'float32', ['batch', classes]),
      makeValueInfo(LABEL_NAME, 'int64', ['batch']),
    ],
    initializers,
  });
  const model = makeModel({
    graph,
    opsetImports: [{ domain: '', version: OPSET }],
    irVersion: IR_VERSION,
    producerName: 'berth',
  });
  model.docString = `berth example: UCI 8x8 digits MLP ${inputs}-${hidden}-${classes}; input raw pixel counts 0-16`;
  const metadata: Record<string, string> = {};
  if (info.testAccuracy !== undefined) metadata[ACCURACY_KEY] = String(info.testAccuracy);
  if (info.testRows !== undefined) metadata['berth.test_rows'] = String(info.testRows);
  model.metadataProps = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  return model;
}

/** Builds and writes the model to `path` (atomically, via the onnx module). */
export async function exportDigitsModel(mlp: Mlp, path: string, info: ExportInfo = {}): Promise<void> {
  await saveModel(buildDigitsModel(mlp, info), path);
}

/** The accuracy recorded by `buildDigitsModel`, or NaN if the model carries none. */
export function recordedAccuracy(model: ModelProto): number {
  const entry = model.metadataProps?.find((p) => p.key === ACCURACY_KEY);
  return entry?.value ? Number(entry.value) : Number.NaN;
}
