/**
 * berth as a library: `import { startServer, quantize, openRegistry } from 'berth'`.
 * What is exported here is the public API (docs/library.md); everything else under dist/ is
 * internal and may change between minor versions. The package's `exports` map admits only this
 * entry and package.json, so a deep import cannot come to depend on internals by accident.
 */

// --- serving ---------------------------------------------------------------------------------
export { startServer } from './server.js';
export type { BerthConfigInput, RunningServer, ServeRuntime } from './server.js';
export { serverConfigSchema } from './config/schema.js';
export type { BerthConfig, BerthConfigFile } from './config/schema.js';
export { loadConfig, parseConfig, readConfigFile } from './config/load.js';
export type { ConfigSources } from './config/load.js';
export { DEFAULTS } from './config/defaults.js';

// the serving core, for embedding it without the HTTP/gRPC front ends
export { InferenceService } from './core/inference-service.js';
export type { InferRequest, InferResponse, ModelMetadata, ModelVersionStatus, TensorMetadata, RequestedOutput, Parameters } from './core/types.js';
export type { Tensor, TensorData, NumericArray, Datatype } from './core/tensor.js';
export { BerthError } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export type { InferenceObserver, RequestRecord } from './core/observer.js';

// backends: implement Backend and pass it to startServer({ backends: [...] })
export { BackendRegistry, DEFAULT_BACKEND } from './core/backends.js';
export type { Backend, BackendLoadSpec, LoadedModel, BackendEvents, BackendInstance, BackendWarning, BatchResult, TextPlan } from './core/backend.js';
export { onnxruntimeBackend } from './runtime/onnx-backend.js';

// --- preparation -----------------------------------------------------------------------------
export { loadModel, saveModel, decodeModel, encodeModel, InvalidModelError } from './onnx/codec.js';
export type { LoadOptions, SaveOptions, SaveResult } from './onnx/codec.js';
export { inspectModel, formatSummary } from './onnx/inspect.js';
export type { ModelSummary, ValueSummary } from './onnx/inspect.js';
export type { ModelProto } from './onnx/types.js';
export { quantize, formatReport as formatQuantizeReport } from './optimize/quantize/index.js';
export type { QuantizeOptions, QuantizeReport, QuantizeMode } from './optimize/quantize/index.js';
export { prune } from './optimize/prune.js';
export type { PruneOptions, PruneReport } from './optimize/prune.js';
export { evaluate, formatEvalReport } from './optimize/eval.js';
export type { EvalOptions, EvalReport, ModelSource } from './optimize/eval.js';
export { runPipeline, parseSteps } from './optimize/pipeline.js';
export type { PipelineStep, PipelineOptions, PipelineResult, PipelineReport } from './optimize/pipeline.js';
export { convertFp16 } from './convert/index.js';
export type { Fp16Options, Fp16Report } from './convert/index.js';
export { readDataset, readLabels, writeNpy } from './datasets/index.js';
export type { Dataset, DatasetTensor, ReadDatasetOptions } from './datasets/index.js';

// --- registry --------------------------------------------------------------------------------
export { Registry, defaultHome, PRODUCTION, parseRef } from './registry/index.js';
export type { OpenOptions as RegistryOpenOptions, PushMeta, RolloutSpec, ParsedRef } from './registry/index.js';
export type { ModelRecord, VersionRecord, AuditEntry, Rollout, KeyInfo, KeyScope } from './registry/index.js';
