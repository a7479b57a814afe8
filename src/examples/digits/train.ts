/**
 * A small MLP (64 → hidden ReLU → 10, softmax) trained with mini-batch Adam on softmax
 * cross-entropy, in plain loops over Float32Arrays: the example must build with no ML library
 * and no download. Everything random comes from one seed, and the arithmetic runs in a fixed
 * order, so the same seed gives bit-identical weights on every run.
 */
import { mulberry32 } from '../../util/random.js';
import { CLASSES, FEATURES, PIXEL_MAX, shuffle, type Digits } from './dataset.js';

/**
 * Weights laid out the way ONNX's MatMul wants them: `w1` is [inputs, hidden] row-major,
 * `w2` is [hidden, classes]. They act on pixels already scaled to [0, 1]; `forward` and the
 * exporter both apply the 1/16 scaling, so callers always pass raw 0–16 pixels.
 */
export interface Mlp {
  inputs: number;
  hidden: number;
  classes: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export interface TrainOptions {
  hidden?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** L2 penalty on the weight matrices (not biases) */
  weightDecay?: number;
  seed?: number;
}

export interface TrainResult {
  model: Mlp;
  /** mean cross-entropy over the last epoch */
  loss: number;
  trainAccuracy: number;
  epochs: number;
  milliseconds: number;
}

export const DEFAULT_TRAIN_SEED = 7;

/** Scale that maps raw pixels (0–16) to [0, 1]; a power of two, so scaling is exact in float32. */
export const INPUT_SCALE = 1 / PIXEL_MAX;

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;

/** He-uniform initial weights (suits ReLU), zero biases, all from `random`. */
function initMlp(hidden: number, random: () => number): Mlp {
  const uniform = (count: number, fanIn: number): Float32Array => {
    const limit = Math.sqrt(6 / fanIn);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * limit;
    return out;
  };
  return {
    inputs: FEATURES,
    hidden,
    classes: CLASSES,
    w1: uniform(FEATURES * hidden, FEATURES),
    b1: new Float32Array(hidden),
    w2: uniform(hidden * CLASSES, hidden),
    b2: new Float32Array(CLASSES),
  };
}

/**
 * Forward pass of `count` rows (row numbers `rows`) of `pixels` (raw 0–16): writes hidden
 * activations into `h` [count, hidden], logits into `z` and probabilities into `p`
 * (both [count, classes]).
 */
function forwardRows(model: Mlp, pixels: Float32Array, rows: ArrayLike<number>, count: number, h: Float32Array, z: Float32Array, p: Float32Array): void {
  const { inputs, hidden, classes, w1, b1, w2, b2 } = model;
  const logits = new Float64Array(classes);
  for (let r = 0; r < count; r++) {
    const xOff = rows[r] * inputs;
    const hOff = r * hidden;
    for (let k = 0; k < hidden; k++) h[hOff + k] = b1[k];
    for (let i = 0; i < inputs; i++) {
      const xi = pixels[xOff + i] * INPUT_SCALE;
      if (xi === 0) continue; // about half the pixels are blank; skipping them changes nothing
      const wOff = i * hidden;
      for (let k = 0; k < hidden; k++) h[hOff + k] += xi * w1[wOff + k];
    }
    for (let k = 0; k < hidden; k++) if (h[hOff + k] < 0) h[hOff + k] = 0;
    for (let c = 0; c < classes; c++) logits[c] = b2[c];
    for (let k = 0; k < hidden; k++) {
      const hk = h[hOff + k];
      if (hk === 0) continue;
      const wOff = k * classes;
      for (let c = 0; c < classes; c++) logits[c] += hk * w2[wOff + c];
    }
    for (let c = 0; c < classes; c++) z[r * classes + c] = logits[c];
    // Subtract the max before exp so large logits cannot overflow.
    let max = -Infinity;
    for (let c = 0; c < classes; c++) if (logits[c] > max) max = logits[c];
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += logits[c] = Math.exp(logits[c] - max);
    for (let c = 0; c < classes; c++) p[r * classes + c] = logits[c] / sum;
  }
}

function identity(n: number): Int32Array {
  const rows = new Int32Array(n);
  for (let i = 0; i < n; i++) rows[i] = i;
  return rows;
}

export interface Forward {
  /** [n, classes] pre-softmax scores */
  logits: Float32Array;
  /** [n, classes] softmax of the logits */
  probabilities: Float32Array;
  /** [n] argmax of the logits, as the exported model's `label` output */
  labels: Int32Array;
}

/** The model on `n` rows of raw pixels [n, 64]: what the exported ONNX graph computes. */
export function forward(model: Mlp, pixels: Float32Array, n: number): Forward {
  const h = new Float32Array(n * model.hidden);
  const logits = new Float32Array(n * model.classes);
  const probabilities = new Float32Array(n * model.classes);
  forwardRows(model, pixels, identity(n), n, h, logits, probabilities);
  return { logits, probabilities, labels: argmaxRows(logits, n, model.classes) };
}

/** Index of the largest value in each row; ties go to the first, as ONNX ArgMax does. */
export function argmaxRows(values: ArrayLike<number>, n: number, width: number): Int32Array {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c;
    out[r] = best;
  }
  return out;
}

export function predict(model: Mlp, pixels: Float32Array, n: number): Int32Array {
  return forward(model, pixels, n).labels;
}

export function accuracy(model: Mlp, data: Digits): number {
  const labels = predict(model, data.x, data.n);
  let right = 0;
  for (let i = 0; i < data.n; i++) if (labels[i] === data.y[i]) right++;
  return right / data.n;
}

/** One Adam update of `param` from `grad`, with bias correction for step `t` (1-based). */
function adamStep(param: Float32Array, grad: Float64Array, m: Float32Array, v: Float32Array, lr: number, t: number): void {
  const c1 = 1 - ADAM_BETA1 ** t;
  const c2 = 1 - ADAM_BETA2 ** t;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    m[i] = ADAM_BETA1 * m[i] + (1 - ADAM_BETA1) * g;
    v[i] = ADAM_BETA2 * v[i] + (1 - ADAM_BETA2) * g * g;
    param[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + ADAM_EPSILON);
  }
}

/** Trains a fresh MLP on `train`. Deterministic: same data and options, same weights. */
export function trainMlp(train: Digits, options: TrainOptions = {}): TrainResult {
  const hidden = options.hidden ?? 32;
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 32;
  const baseLr = options.learningRate ?? 0.01;
  const weightDecay = options.weightDecay ?? 1e-4;
  const random = mulberry32(options.seed ?? DEFAULT_TRAIN_SEED);
  const started = performance.now();

  const model = initMlp(hidden, random);
  const params = [model.w1, model.b1, model.w2, model.b2];
  const grads = params.map((p) => new Float64Array(p.length));
  const [gw1, gb1, gw2, gb2] = grads;
  const moments1 = params.map((p) => new Float32Array(p.length));
  const moments2 = params.map((p) => new Float32Array(p.length));

  const h = new Float32Array(batchSize * hidden);
  const z = new Float32Array(batchSize * CLASSES);
  const p = new Float32Array(batchSize * CLASSES);
  const dh = new Float64Array(hidden);
  const order = Array.from({ length: train.n }, (_, i) => i);
  let step = 0;
  let loss = 0;

  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, random);
    // Cosine decay to zero: large steps early, then settle into a minimum instead of bouncing.
    const lr = baseLr * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs));
    loss = 0;
    for (let start = 0; start < train.n; start += batchSize) {
      const rows = order.slice(start, start + batchSize);
      const count = rows.length;
      forwardRows(model, train.x, rows, count, h, z, p);
      for (const g of grads) g.fill(0);

      for (let r = 0; r < count; r++) {
        const label = train.y[rows[r]];
        loss -= Math.log(Math.max(p[r * CLASSES + label], 1e-12));
        // d(loss)/d(logits) of softmax cross-entropy is p − onehot; averaged over the batch.
        const hOff = r * hidden;
        dh.fill(0);
        for (let c = 0; c < CLASSES; c++) {
          const dz = (p[r * CLASSES + c] - (c === label ? 1 : 0)) / count;
          gb2[c] += dz;
          for (let k = 0; k < hidden; k++) {
            gw2[k * CLASSES + c] += h[hOff + k] * dz;
            dh[k] += model.w2[k * CLASSES + c] * dz;
          }
        }
        // ReLU passes gradient only where the unit was active.
        for (let k = 0; k < hidden; k++) if (h[hOff + k] === 0) dh[k] = 0;
        for (let k = 0; k < hidden; k++) gb1[k] += dh[k];
        const xOff = rows[r] * FEATURES;
        for (let i = 0; i < FEATURES; i++) {
          const xi = train.x[xOff + i] * INPUT_SCALE;
          if (xi === 0) continue;
          for (let k = 0; k < hidden; k++) gw1[i * hidden + k] += xi * dh[k];
        }
      }
      for (let i = 0; i < gw1.length; i++) gw1[i] += weightDecay * model.w1[i];
      for (let i = 0; i < gw2.length; i++) gw2[i] += weightDecay * model.w2[i];

      step++;
      for (let j = 0; j < params.length; j++) adamStep(params[j], grads[j], moments1[j], moments2[j], lr, step);
    }
    loss /= train.n;
  }

  return { model, loss, trainAccuracy: accuracy(model, train), epochs, milliseconds: performance.now() - started };
}
