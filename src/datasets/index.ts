/**
 * Dataset readers and the .npy writer: evaluation and calibration data, labels, captured
 * traffic. Depends on tensor-types/ and onnx/ only, so preparation (optimize/), monitoring and
 * the CLI can all use it.
 */
export * from './types.js';
export { castTensor, sliceDataset, tensorNumbers } from './cast.js';
export { datasetOptionsFor, fitDataset, modelInputSpecs } from './fit.js';
export { readLabels } from './labels.js';
export { encodeNpy, parseNpy, writeNpy } from './npy.js';
export { DEFAULT_MAX_NPZ_BYTES } from './npz.js';
export { readDataset } from './read.js';
