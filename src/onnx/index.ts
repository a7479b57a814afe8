/** berth's ONNX module: the model format and nothing else. */
export * from './types.js';
export {
  decodeModel,
  encodeModel,
  decodeTensor,
  encodeTensor,
  loadModel,
  loadExternalData,
  saveModel,
  modelFileSizes,
  InvalidModelError,
  PROTOBUF_LIMIT,
  type LoadOptions,
  type SaveOptions,
  type SaveResult,
} from './codec.js';
export {
  ELEM_TYPES,
  elemTypeName,
  elemTypeNumber,
  elemTypeBits,
  elementCount,
  tensorToArray,
  tensorRawBytes,
  int64ToNumber,
  float32ToFloat16,
  float16ToFloat32,
  float32ToBfloat16,
  bfloat16ToFloat32,
  makeTensor as makeTensorOfType,
  type ElemTypeName,
  type TensorValues,
  type TensorReadOptions,
} from './tensor.js';
export * from './builder.js';
export { isExternal, externalRef, type ExternalRef } from './external.js';
export { mapTensors, forEachTensor, allGraphs, type TensorSite } from './walk.js';
export { inspectModel, formatSummary, type ModelSummary, type ValueSummary } from './inspect.js';
export { readOpsetImports, defaultOpsetVersion, type OpsetImport } from './peek.js';
