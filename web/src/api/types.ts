/**
 * The shapes of the berth answers the dashboard reads (docs/serving.md, docs/admin-api.md,
 * docs/monitoring.md). The admin API's records are not restated here: they are the server's own
 * types, derived from the zod schemas the API validates and documents with (type-only imports,
 * erased from the bundle).
 */
export type { AuditEntry, ModelRecord, VersionRecord } from '../../../src/registry/types';
export type { LatencySummary, RolloutState, RolloutStats } from '../../../src/http/admin-schemas';
export type { Convergence, ServerInfo } from '../../../src/http/dashboard-data-schemas';

/** GET /v2/models */
export interface VersionStatus {
  name: string;
  version: string;
  state: string;
  reason: string;
}

export interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

/** GET /v2/models/{m} */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string | boolean)[];
}

/** POST /v2/models/{m}/infer */
export interface InferResponse {
  model_name: string;
  model_version: string;
  outputs: OutputTensor[];
}

/** Columns of points, as GET /api/v1/metrics/history gives them. */
export interface SeriesColumns {
  t: number[];
  rps: number[];
  error_rate: (number | null)[];
  p50_ms: (number | null)[];
  p99_ms: (number | null)[];
}

export interface VersionHistory {
  version: string;
  state: string;
  series: SeriesColumns;
}

export interface ModelHistory {
  model: string;
  ready: boolean;
  series: SeriesColumns;
  versions: VersionHistory[];
}

export interface HistorySnapshot {
  interval_secs: number;
  window_secs: number;
  sampled_at: number | null;
  models: ModelHistory[];
}

export interface DriftFeature {
  name: string;
  kind: string;
  method: string;
  statistic: number;
  score_type: string;
  threshold: number;
  drifted: boolean;
  psi?: number;
  psi_band?: string;
  reference_mean?: number;
  current_mean?: number;
}

/** GET /api/v1/models/{m}/drift */
export interface DriftReport {
  model: string;
  version?: string;
  status: string;
  reference: { source: string; samples: number; progress?: number } | null;
  window: { index: number; samples: number; end: string } | null;
  current_window?: { samples: number; size: number };
  /** null until the first window has closed (no verdict yet) */
  dataset_drift: boolean | null;
  drifted_share: number | null;
  drift_share_threshold?: number;
  n_features?: number;
  n_drifted?: number;
  features: DriftFeature[];
  prediction_drift: { drifted: boolean; drifted_share: number; n_features: number; n_drifted: number; features: DriftFeature[] } | null;
  consecutive_drifted_windows?: number;
  windows_evaluated?: number;
  history?: { index: number; end: string; samples: number; dataset_drift: boolean; drifted_share: number; prediction_drift: boolean | null }[];
  versions: string[];
}

export interface AccuracyBucket {
  start: string;
  labelled: number;
  correct: number;
  accuracy: number | null;
}

/** GET /api/v1/models/{m}/accuracy */
export interface AccuracyReport {
  model: string;
  window: number;
  version: string | null;
  accuracy: number | null;
  labelled: number;
  versions: {
    version: string;
    labelled: number;
    correct: number;
    accuracy: number | null;
    rolling: { window: number; labelled: number; correct: number; accuracy: number | null };
    buckets: AccuracyBucket[];
  }[];
}
