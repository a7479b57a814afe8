/**
 * A model's configuration: from `NAME/config.json` in a repository (Triton's field names in
 * snake_case, so a Triton user reads it without a manual), then the server's command-line
 * defaults for whatever the file leaves out.
 */
import { z } from 'zod';
import { invalidArgument } from './errors.js';

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
}

export const DEFAULT_CONFIG: ModelConfig = {
  maxBatchSize: 32,
  maxQueueDelayUs: 1000,
  maxQueueSize: 1024,
  instances: 1,
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
  };
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
