/**
 * A model's configuration: from `NAME/config.json` in a repository (Triton's field names in
 * snake_case, so a Triton user reads it without a manual), then the server's command-line
 * defaults for whatever the file leaves out.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { invalidArgument } from './errors.js';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './json-depth.js';
import { DEFAULTS } from '../config/defaults.js';

export type VersionPolicy =
  | { kind: 'latest'; numVersions: number }
  | { kind: 'all' }
  | { kind: 'specific'; versions: number[] };

export interface ModelConfig {
  /** 0 disables batching */
  maxBatchSize: number;
  maxQueueDelayUs: number;
  /**
   * batch sizes that go without waiting for maxQueueDelayUs (Triton's preferred_batch_size);
   * undefined = berth's default, every size from half of maxBatchSize up (see preferredBatchSizes())
   */
  preferredBatchSizes?: number[];
  /** 0 = unbounded */
  maxQueueSize: number;
  instances: number;
  defaultPriorityLevel: number;
  versionPolicy: VersionPolicy;
  /** class names, index → label (for V1 predict and the dashboard) */
  labels?: string[];
  /** onnxruntime intra-op threads per instance; undefined = onnxruntime's default */
  intraOpThreads?: number;
  /** which backend runs the model (core/backends.ts); undefined = by `platform`, else onnxruntime */
  backend?: string;
  /** Triton's platform name ("onnxruntime_onnx"), another way to choose the backend */
  platform?: string;
}

export const DEFAULT_CONFIG: ModelConfig = {
  ...DEFAULTS.models,
  defaultPriorityLevel: Number.MAX_SAFE_INTEGER,
  versionPolicy: { kind: 'latest', numVersions: 1 },
};

const uint = z.number().int().nonnegative();

export const configFileSchema = z
  .object({
    max_batch_size: uint.optional(),
    dynamic_batching: z
      .object({
        max_queue_delay_microseconds: uint.optional(),
        preferred_batch_size: z.array(uint.min(1)).optional(),
        default_priority_level: uint.optional(),
        default_queue_policy: z.object({ max_queue_size: uint.optional() }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
    instance_group: z.array(z.object({ count: uint.min(1).optional(), kind: z.string().optional() }).passthrough()).optional(),
    instances: uint.min(1).optional(),
    version_policy: z
      .union([
        z.object({ latest: z.object({ num_versions: uint.min(1) }) }),
        z.object({ all: z.object({}).passthrough() }),
        z.object({ specific: z.object({ versions: z.array(uint).min(1) }) }),
      ])
      .optional(),
    labels: z.array(z.string()).optional(),
    intra_op_threads: uint.min(1).optional(),
    backend: z.string().min(1).optional(),
    platform: z.string().min(1).optional(),
  })
  .passthrough();

export type ConfigFile = z.infer<typeof configFileSchema>;

/** Merges a parsed config file over the defaults. */
export function resolveConfig(file: unknown, defaults: ModelConfig, source = 'config'): ModelConfig {
  const parsed = configFileSchema.safeParse(file ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidArgument(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const f = parsed.data;
  const policy = f.version_policy;
  const maxBatchSize = f.max_batch_size ?? defaults.maxBatchSize;
  const tooLarge = f.dynamic_batching?.preferred_batch_size?.find((n) => n > maxBatchSize);
  if (tooLarge !== undefined && maxBatchSize > 1) {
    throw invalidArgument(`${source}: dynamic_batching.preferred_batch_size: ${tooLarge} is larger than max_batch_size (${maxBatchSize})`);
  }
  // the server-wide default (--preferred-batch-size) keeps what fits this model
  const preferred = f.dynamic_batching?.preferred_batch_size ?? defaults.preferredBatchSizes?.filter((n) => n <= maxBatchSize);
  return {
    maxBatchSize,
    ...(preferred ? { preferredBatchSizes: [...new Set(preferred)].sort((a, b) => a - b) } : {}),
    maxQueueDelayUs: f.dynamic_batching?.max_queue_delay_microseconds ?? defaults.maxQueueDelayUs,
    maxQueueSize: f.dynamic_batching?.default_queue_policy?.max_queue_size ?? defaults.maxQueueSize,
    defaultPriorityLevel: f.dynamic_batching?.default_priority_level || defaults.defaultPriorityLevel,
    instances: f.instances ?? f.instance_group?.reduce((n, g) => n + (g.count ?? 1), 0) ?? defaults.instances,
    versionPolicy: !policy
      ? defaults.versionPolicy
      : 'latest' in policy
        ? { kind: 'latest', numVersions: policy.latest.num_versions }
        : 'all' in policy
          ? { kind: 'all' }
          : { kind: 'specific', versions: policy.specific.versions },
    labels: f.labels ?? defaults.labels,
    intraOpThreads: f.intra_op_threads ?? defaults.intraOpThreads,
    ...(f.backend !== undefined || defaults.backend !== undefined ? { backend: f.backend ?? defaults.backend } : {}),
    ...(f.platform !== undefined || defaults.platform !== undefined ? { platform: f.platform ?? defaults.platform } : {}),
  };
}

/**
 * Caps on what a load request's config override may ask for (`POST /v2/repository/models/M/load`,
 * gRPC RepositoryModelLoad). The override comes from a client, and each instance is a worker
 * thread with its own onnxruntime session: 300 asked for took 46 s, 4 GB and 612 threads before.
 * A repository's config.json is the operator's and is not capped.
 */
export interface OverrideLimits {
  /** instances per version (instance_group counts summed, or `instances`) */
  instances: number;
  /** instances × versions the override's version policy asks for */
  totalInstances: number;
  intraOpThreads: number;
  maxBatchSize: number;
  preferredBatchSizes: number;
  maxQueueDelayUs: number;
  /** 0 (unbounded) is refused too */
  maxQueueSize: number;
  /** versions a version policy may select */
  versions: number;
  labels: number;
}

/** The caps, from the machine's CPU count: threads beyond a few per core buy nothing. */
export function overrideLimits(cpus = availableParallelism()): OverrideLimits {
  const threads = Math.max(8, 4 * cpus);
  return {
    instances: threads,
    totalInstances: threads,
    intraOpThreads: threads,
    maxBatchSize: 8192,
    preferredBatchSizes: 64,
    maxQueueDelayUs: 60_000_000,
    maxQueueSize: 65_536,
    versions: 16,
    labels: 1_000_000,
  };
}

/**
 * Refuses a config override that asks for more than the caps, naming the field and the cap
 * (INVALID_ARGUMENT → 400). Types are left to resolveConfig's schema; this reads numbers only.
 * `availableVersions`, when known, is what a `version_policy: {all: {}}` would select.
 */
export function checkOverrideLimits(override: unknown, limits: OverrideLimits = overrideLimits(), availableVersions?: number): void {
  // gRPC and REST both land here: the override is kept and serialised again (config views)
  if (nestedDeeperThan(override, MAX_JSON_DEPTH)) throw invalidArgument(`config override is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (typeof override !== 'object' || override === null || Array.isArray(override)) return;
  const o = override as Record<string, unknown>;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const cap = (field: string, value: number | undefined, max: number, why = ''): void => {
    if (value !== undefined && value > max) throw invalidArgument(`config override: ${field} is ${value}; a load request may ask for at most ${max}${why}`);
  };
  const instanceWhy = ` (4 × this machine's ${availableParallelism()} CPU threads, at least 8); set more in the repository's config.json`;
  const groups = Array.isArray(o.instance_group) ? o.instance_group : undefined;
  const groupTotal = groups?.reduce<number>((n, g) => n + (num(obj(g)?.count) ?? 1), 0);
  cap('instances', num(o.instances), limits.instances, instanceWhy);
  cap('instance_group[].count (summed)', groupTotal, limits.instances, instanceWhy);
  cap('intra_op_threads', num(o.intra_op_threads), limits.intraOpThreads, instanceWhy);
  cap('max_batch_size', num(o.max_batch_size), limits.maxBatchSize);
  const batching = obj(o.dynamic_batching);
  const preferred = Array.isArray(batching?.preferred_batch_size) ? (batching.preferred_batch_size as unknown[]) : undefined;
  cap('dynamic_batching.preferred_batch_size (entries)', preferred?.length, limits.preferredBatchSizes);
  cap('dynamic_batching.max_queue_delay_microseconds', num(batching?.max_queue_delay_microseconds), limits.maxQueueDelayUs);
  const queueSize = num(obj(batching?.default_queue_policy)?.max_queue_size);
  if (queueSize === 0) throw invalidArgument(`config override: dynamic_batching.default_queue_policy.max_queue_size 0 (unbounded) is not allowed in a load request; at most ${limits.maxQueueSize}`);
  cap('dynamic_batching.default_queue_policy.max_queue_size', queueSize, limits.maxQueueSize);
  cap('labels (entries)', Array.isArray(o.labels) ? o.labels.length : undefined, limits.labels);
  const policy = obj(o.version_policy);
  const latest = num(obj(policy?.latest)?.num_versions);
  const specific = obj(policy?.specific)?.versions;
  const versions = latest ?? (Array.isArray(specific) ? specific.length : undefined) ?? (policy?.all !== undefined ? availableVersions : undefined);
  cap('version_policy (versions selected)', versions, limits.versions);
  const perVersion = num(o.instances) ?? groupTotal;
  if (perVersion !== undefined && versions !== undefined) cap('instances × versions', perVersion * versions, limits.totalInstances, instanceWhy);
}

/**
 * The preferred batch sizes in force. berth's default (none configured) is every size from half
 * of maxBatchSize up: a batch that has half the rows goes at once instead of waiting for a full
 * one. Under steady load that keeps two batches in turn, one computing in the worker thread
 * while the main thread answers the other's requests and receives the next ones; waiting for a
 * full batch put the two in lock-step (each idle while the other worked). An explicit list
 * (`preferred_batch_size: [32]`, say) gives Triton's behaviour exactly.
 */
export function preferredBatchSizes(config: Pick<ModelConfig, 'maxBatchSize' | 'preferredBatchSizes'>): number[] {
  if (config.preferredBatchSizes) return config.preferredBatchSizes;
  const max = config.maxBatchSize;
  if (max <= 1) return [];
  return Array.from({ length: max - Math.ceil(max / 2) + 1 }, (_, i) => Math.ceil(max / 2) + i);
}

/** Which of the available version numbers a policy serves. */
export function selectVersions(policy: VersionPolicy, available: readonly number[]): number[] {
  const sorted = [...available].sort((a, b) => b - a);
  switch (policy.kind) {
    case 'latest':
      return sorted.slice(0, policy.numVersions);
    case 'all':
      return sorted;
    case 'specific':
      return sorted.filter((v) => policy.versions.includes(v));
  }
}
