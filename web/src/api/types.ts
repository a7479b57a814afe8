/** The shapes of the berth answers the dashboard reads (docs/serving.md, docs/admin-api.md, docs/monitoring.md). */

/** GET /api/v1/server */
export interface ServerInfo {
  name: string;
  version: string;
  registry: boolean;
  apiKeys: boolean;
  requireAuth: boolean;
  metrics: boolean;
  monitoring: boolean;
  drift: boolean;
  dashboard: boolean;
  history: { interval_secs: number; window_secs: number } | null;
}

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

/** GET /api/v1/models/{m} */
export interface ModelRecord {
  name: string;
  description: string;
  tags: Record<string, string>;
  createdAt: string;
  latestVersion: number;
  aliases: Record<string, number>;
}

/** GET /api/v1/models/{m}/versions */
export interface VersionRecord {
  name: string;
  version: number;
  digest: string;
  size: number;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  createdAt: string;
  createdBy: string;
  parent?: { name: string; version: number };
  derivedBy?: string;
}

/** GET /api/v1/models/{m}/rollout */
export interface RolloutState {
  model: string;
  production: number | null;
  canary: { version: number; percent: number } | null;
  shadow: { version: number } | null;
  updatedAt: string | null;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  samples: number;
}

/** GET /api/v1/models/{m}/rollout/stats */
export interface RolloutStats {
  model: string;
  served: boolean;
  versions: { version: string; state: string; reason: string }[];
  policy: { production: string; canary?: { version: string; percent: number }; shadow?: string } | null;
  since: string | null;
  requests: Record<string, { success: number; failure: number }>;
  canaryShare: number | null;
  shadow: {
    version: string;
    mirrored: number;
    agreed: number;
    agreement: number | null;
    skipped: number;
    failed: number;
    maxAbsDiff: number;
    latencyMs: { primary: LatencySummary; shadow: LatencySummary };
  } | null;
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

/** GET /api/v1/audit */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  model?: string;
  before?: unknown;
  after?: unknown;
}
