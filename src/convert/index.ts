/** Model conversion: float16 and ai.onnx opset up/down conversion. Model in → model + report out. */
export {
  convertOpset,
  upgradeForRuntime,
  OpsetConversionError,
  MIN_TARGET_OPSET,
  MAX_OPSET,
  RUNTIME_MIN_OPSET,
  RUNTIME_UPGRADE_OPSET,
  type OpsetReport,
  type OpsetChange,
} from './opset.js';
export { convertFp16, DEFAULT_FP16_BLOCK_OPS, ORT_CPU_NO_FP16, ONNXCONVERTER_BLOCK_OPS, type Fp16Options, type Fp16Report } from './fp16.js';
