/**
 * The model configuration and statistics in the JSON shapes of Triton's extensions, so
 * perf_analyzer and Triton-minded tooling read them without translation.
 */
import type { ModelVersion } from './model-version.js';
import type { Datatype } from './tensor.js';
import type { TensorMetadata } from './types.js';
import type { VersionPolicy } from './model-config.js';
import { preferredBatchSizes } from './model-config.js';

const TYPE_NAMES: Record<Datatype, string> = {
  BOOL: 'TYPE_BOOL', UINT8: 'TYPE_UINT8', UINT16: 'TYPE_UINT16', UINT32: 'TYPE_UINT32', UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8', INT16: 'TYPE_INT16', INT32: 'TYPE_INT32', INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16', FP32: 'TYPE_FP32', FP64: 'TYPE_FP64', BYTES: 'TYPE_STRING',
};

function policyView(policy: VersionPolicy): object {
  switch (policy.kind) {
    case 'latest': return { latest: { num_versions: policy.numVersions } };
    case 'all': return { all: {} };
    case 'specific': return { specific: { versions: policy.versions } };
  }
}

/** With max_batch_size > 0 Triton's dims leave out the batch dimension. */
function tensorView(t: TensorMetadata, batching: boolean): object {
  return { name: t.name, data_type: TYPE_NAMES[t.datatype], dims: batching ? t.shape.slice(1) : t.shape, is_shape_tensor: false, optional: false };
}

export function configView(mv: ModelVersion): Record<string, unknown> {
  const batching = mv.batching;
  const c = mv.config;
  return {
    name: mv.name,
    platform: mv.platform,
    backend: mv.backendName,
    version_policy: policyView(c.versionPolicy),
    max_batch_size: batching ? c.maxBatchSize : 0,
    input: mv.inputs.map((t) => tensorView(t, batching)),
    output: mv.outputs.map((t) => tensorView(t, batching)),
    ...(batching
      ? {
          dynamic_batching: {
            preferred_batch_size: preferredBatchSizes(c),
            max_queue_delay_microseconds: c.maxQueueDelayUs,
            preserve_ordering: false,
            default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: c.maxQueueSize },
          },
        }
      : {}),
    instance_group: [{ name: `${mv.name}_0`, kind: 'KIND_CPU', count: c.instances }],
    default_model_filename: 'model.onnx',
    model_transaction_policy: { decoupled: false },
    response_cache: { enable: false },
    parameters: c.labels ? { labels: { string_value: JSON.stringify(c.labels) } } : {},
  };
}

const duration = (d: { count: number; ns: number }) => ({ count: d.count, ns: d.ns });

export function statisticsView(mv: ModelVersion): Record<string, unknown> {
  const s = mv.stats;
  return {
    name: mv.name,
    version: mv.version,
    last_inference: s.lastInference,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: {
      success: duration(s.success),
      fail: duration(s.fail),
      queue: duration(s.queue),
      compute_input: duration(s.computeInput),
      compute_infer: duration(s.computeInfer),
      compute_output: duration(s.computeOutput),
      cache_hit: { count: 0, ns: 0 },
      cache_miss: { count: 0, ns: 0 },
    },
    batch_stats: [...s.batches.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([size, b]) => ({
        batch_size: size,
        compute_input: { count: b.count, ns: 0 },
        compute_infer: { count: b.count, ns: b.computeInferNs },
        compute_output: { count: b.count, ns: 0 },
      })),
  };
}
