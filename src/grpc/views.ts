/**
 * The core's metadata, configuration, statistics and repository views as our gRPC messages.
 * The core already speaks Triton's JSON shapes (core/triton-views.ts); these functions pick
 * the fields the .proto defines, so the REST and gRPC answers carry the same figures.
 */
import type { RepositoryEntry } from '../core/model-control.js';
import type { ModelMetadata, ModelVersionStatus, TensorMetadata } from '../core/types.js';
import type { InferStatistics } from './generated/inference/InferStatistics.js';
import type { ModelMetadataResponse, _inference_ModelMetadataResponse_TensorMetadata as TensorMessage } from './generated/inference/ModelMetadataResponse.js';
import type { ModelStatistics } from './generated/inference/ModelStatistics.js';
import type { _inference_RepositoryIndexResponse_ModelIndex as ModelIndex } from './generated/inference/RepositoryIndexResponse.js';
import type { StatisticDuration } from './generated/inference/StatisticDuration.js';

export function metadataMessage(meta: ModelMetadata): ModelMetadataResponse {
  const tensor = (t: TensorMetadata): TensorMessage => ({ name: t.name, datatype: t.datatype, shape: t.shape });
  return { name: meta.name, versions: meta.versions, platform: meta.platform, inputs: meta.inputs.map(tensor), outputs: meta.outputs.map(tensor) };
}

const INFER_STATS = ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss'] as const;

function duration(value: unknown): StatisticDuration {
  const d = (value ?? {}) as Partial<Record<'count' | 'ns', number>>;
  return { count: d.count ?? 0, ns: d.ns ?? 0 };
}

/** One entry of the core's `{model_stats: [...]}` (Triton's JSON) as a ModelStatistics message. */
export function statisticsMessage(view: Record<string, unknown>): ModelStatistics {
  const inference = (view.inference_stats ?? {}) as Record<string, unknown>;
  const batches = (view.batch_stats ?? []) as Record<string, unknown>[];
  const memory = (view.memory_usage ?? []) as Record<string, unknown>[];
  return {
    name: String(view.name ?? ''),
    version: String(view.version ?? ''),
    last_inference: Number(view.last_inference ?? 0),
    inference_count: Number(view.inference_count ?? 0),
    execution_count: Number(view.execution_count ?? 0),
    inference_stats: Object.fromEntries(INFER_STATS.map((k) => [k, duration(inference[k])])) as Record<(typeof INFER_STATS)[number], StatisticDuration> satisfies InferStatistics,
    batch_stats: batches.map((b) => ({
      batch_size: Number(b.batch_size ?? 0),
      compute_input: duration(b.compute_input),
      compute_infer: duration(b.compute_infer),
      compute_output: duration(b.compute_output),
    })),
    memory_usage: memory.map((m) => ({ type: String(m.type ?? ''), id: Number(m.id ?? 0), byte_size: Number(m.byte_size ?? 0) })),
  };
}

export function indexMessage(entry: RepositoryEntry | ModelVersionStatus): ModelIndex {
  return { name: entry.name, version: entry.version, state: entry.state, reason: entry.reason };
}
