/** Options and report of `quantize`. */
import type { CpuFeatures, CpuTarget } from '../../runtime/cpu-features.js';
import type { Dataset } from '../../datasets/index.js';
import type { CalibrationMethod } from './calibrate.js';

export type QuantizeMode = 'dynamic' | 'static' | 'weight-only';

export interface QuantizeOptions {
  mode: QuantizeMode;
  /** weight-only: 8 (int8 weights + DequantizeLinear) or 4 (com.microsoft MatMulNBits); default 8 */
  bits?: 8 | 4;
  /** one scale per output channel instead of one per tensor (int8 weights) */
  perChannel?: boolean;
  /** int4: elements of K per scale; default 32 */
  blockSize?: 32 | 64 | 128;
  /**
   * int4: MatMulNBits accuracy_level, the lowest precision used for the activations
   * (0 unset = fp32, 1 fp32, 2 fp16, 3 bf16, 4 int8). Default 4: several times faster on CPU;
   * use 0 for layers whose outliers need float activations.
   */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** int4: symmetric blocks (no zero points); default false, as ORT's MatMulNBitsQuantizer */
  symmetric?: boolean;
  /** static: the samples activation ranges are measured on (required) */
  calibration?: Dataset;
  /** static: default minmax */
  calibrationMethod?: CalibrationMethod;
  /** static: histogram settings; defaults are ORT's (entropy 128/128 bins, percentile 2048 bins at 99.999, symmetric) */
  calibrationSettings?: { numBins?: number; numQuantizedBins?: number; percentile?: number; symmetric?: boolean };
  /**
   * static: activation type (asymmetric), default uint8: on x86 onnxruntime 1.30 fuses every
   * QDQ group with uint8 activations, while an int8 pair shared by several readers (a transformer
   * block's input feeding q/k/v) is left unfused. int16 uses com.microsoft Q/DQ below opset 21.
   */
  activationType?: 'int8' | 'uint8' | 'int16';
  /**
   * 7-bit int8 weights ([-64, 64], ORT's reduce_range) for the integer kernels of dynamic and
   * static models. 'auto' (default): on when the target CPU's u8s8 kernels can saturate (x86-64
   * without VNNI, or an unknown CPU), off otherwise. true/false force it.
   */
  reduceRange?: boolean | 'auto';
  /** the CPU the model will run on; default: this machine's (detectCpuFeatures) */
  targetCpu?: CpuTarget;
  /** node names (or OpType#index for unnamed nodes) to leave in float */
  exclude?: string[];
  /** op types to quantize; default MatMul, Gemm (+ Conv for static) */
  opTypes?: string[];
  /**
   * dynamic: 'fused' emits com.microsoft DynamicQuantizeMatMul (default: measured fastest on
   * onnxruntime-node 1.30); 'standard' emits DynamicQuantizeLinear + MatMulInteger + Cast + Mul,
   * plain ONNX ops any runtime can execute (ORT fuses it to the same kernel at level 'extended').
   */
  dynamicForm?: 'fused' | 'standard';
  /** fold BatchNormalization into the preceding Conv before quantizing Conv weights; default true */
  foldBatchNorm?: boolean;
  /**
   * Directory the model's external data locations are relative to. With it, a model loaded
   * without its external data (loadModel(path, { externalData: false })) is processed one
   * tensor at a time: float weights are never all in memory at once.
   */
  externalDataDir?: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface QuantizedNode {
  name: string;
  opType: string;
  /** what the node became, e.g. 'com.microsoft.DynamicQuantizeMatMul', 'QDQ', 'MatMulNBits' */
  as: string;
  /** the quantized weight and its shape (as stored before quantization) */
  weight?: string;
  shape?: number[];
  /** per-tensor scale, or the smallest and largest per-channel/per-block scale */
  scale?: number | [number, number];
  /** largest |w - dequantize(quantize(w))| over the weight */
  maxWeightError?: number;
}

export interface ActivationParams {
  tensor: string;
  /** the calibrated range the parameters come from */
  rmin: number;
  rmax: number;
  /** observed extremes */
  min: number;
  max: number;
  scale: number;
  zeroPoint: number;
}

export interface QuantizeReport {
  mode: QuantizeMode;
  /** the CPU the model is quantized for, and whether it was given or read from this machine */
  targetCpu: CpuTarget;
  targetCpuFrom: 'option' | 'this machine';
  /** this machine's CPU features (what the target defaults to) */
  cpu: CpuFeatures;
  /** whether int8 weights were quantized to 7 bits, and why */
  reduceRange: boolean;
  reduceRangeReason: string;
  /** weight bits */
  bits: 8 | 4;
  weightType: 'int8' | 'uint8' | 'int4' | 'uint4';
  perChannel: boolean;
  blockSize?: number;
  accuracyLevel?: number;
  symmetric?: boolean;
  /** dynamic: which form was emitted */
  form?: 'fused' | 'standard';
  activationType?: 'int8' | 'uint8' | 'int16' | 'uint8 (dynamic)';
  calibration?: { method: CalibrationMethod; samples: number; runs: number; settings: Record<string, number | boolean> };
  opTypes: string[];
  quantizedNodes: QuantizedNode[];
  skipped: { name: string; opType: string; reason: string }[];
  /** graph rewrites done before quantizing (e.g. BatchNormalization folded into Conv) */
  rewrites: string[];
  activations?: ActivationParams[];
  warnings: string[];
  /** bytes of all initializers before and after */
  sizeBefore: number;
  sizeAfter: number;
  /** bytes of the float weights that were quantized, and of what replaced them */
  weightBytesBefore: number;
  weightBytesAfter: number;
  opset: number;
  irVersion: number;
  /** opset domains the output imports beyond the input's (com.microsoft) */
  addedOpsets: string[];
  elapsedMs: number;
}

/** Bad options or a model the requested quantization cannot apply to. */
export class QuantizeError extends Error {
  override name = 'QuantizeError';
}
