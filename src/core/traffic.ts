/**
 * Traffic policies for rollouts: which version answers an unversioned request (production, or a
 * canary for a share of the traffic), sticky routing by a route key, and shadow (mirror)
 * traffic whose answers are compared with production's but never returned.
 *
 * The InferenceService owns one ModelTraffic per model that has a policy; this file holds the
 * pure parts (hashing, choosing, comparing, quantiles) and `applyTraffic`, the zero-downtime
 * sequence for changing a policy: load and warm, switch, drain.
 */
import { invalidArgument } from './errors.js';
import type { NumericArray, Tensor } from './tensor.js';
import type { ModelSource } from './repository.js';
import { float16ToFloat32 } from '../onnx/tensor.js';
import { quantileNearestRank, sortedNumbers } from '../util/stats.js';

export interface TrafficPolicy {
  /** the version that answers unversioned requests (all of them, less the canary's share) */
  production: string;
  /** a version that answers `percent`% of unversioned requests */
  canary?: { version: string; percent: number };
  /** a version that receives a copy of every unversioned request; its answers are only compared */
  shadow?: string;
}

const VERSION = /^[1-9][0-9]*$/;

/** Checks a policy's shape; throws INVALID_ARGUMENT naming the bad field. */
export function validatePolicy(policy: TrafficPolicy): TrafficPolicy {
  if (!VERSION.test(policy.production)) throw invalidArgument(`traffic policy: production version must be a positive integer, got '${policy.production}'`);
  if (policy.canary) {
    const { version, percent } = policy.canary;
    if (!VERSION.test(version)) throw invalidArgument(`traffic policy: canary version must be a positive integer, got '${version}'`);
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw invalidArgument(`traffic policy: canary percent must be between 0 and 100, got ${String(percent)}`);
    }
  }
  if (policy.shadow !== undefined && !VERSION.test(policy.shadow)) {
    throw invalidArgument(`traffic policy: shadow version must be a positive integer, got '${policy.shadow}'`);
  }
  return policy;
}

/** The versions a policy needs loaded. */
export function policyVersions(policy: TrafficPolicy | undefined): string[] {
  if (!policy) return [];
  const out = new Set([policy.production]);
  if (policy.canary) out.add(policy.canary.version);
  if (policy.shadow) out.add(policy.shadow);
  return [...out];
}

/**
 * A stable number in [0, 1) for a route key: FNV-1a over the UTF-16 code units, then a
 * murmur3-style finaliser so that similar keys ("user-1", "user-2") spread evenly.
 */
export function routeFraction(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x100000000;
}

/**
 * Picks the version for an unversioned request. With a route key the choice is a pure function
 * of (model, key, percent): a key below the canary threshold stays on the canary as the
 * percentage grows, so raising the share only ever moves callers from production to canary.
 */
export function chooseVersion(model: string, policy: TrafficPolicy, routeKey?: string, random: () => number = Math.random): 'production' | 'canary' {
  const canary = policy.canary;
  if (!canary || canary.percent <= 0) return 'production';
  if (canary.percent >= 100) return 'canary';
  const draw = routeKey !== undefined && routeKey !== '' ? routeFraction(`${model}\u0000${routeKey}`) : random();
  return draw < canary.percent / 100 ? 'canary' : 'production';
}

// --- comparing a shadow's answer with production's ----------------------------------------

export interface Comparison {
  /** same top-1 class on every row (class outputs), else every element all-close */
  agree: boolean;
  /** largest |primary − shadow| over the numeric outputs both have; 0 when there is none */
  maxAbsDiff: number;
  /** how agreement was judged */
  method: 'top1' | 'allclose';
}

const FLOAT_TYPES = new Set(['FP16', 'FP32', 'FP64']);

function asNumbers(t: Tensor): ArrayLike<number> | undefined {
  if (t.datatype === 'BYTES') return undefined;
  if (t.datatype === 'FP16') return float16ToFloat32(t.data as Uint16Array);
  const data = t.data as NumericArray;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return data as ArrayLike<number>;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function argmaxRows(values: ArrayLike<number>, classes: number): number[] {
  const rows = Math.floor(values.length / classes);
  const out = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = values[r * classes]!;
    for (let c = 1; c < classes; c++) {
      const v = values[r * classes + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/**
 * Compares a shadow's outputs with production's. Agreement is judged on the first float output
 * with a class axis (rank ≥ 2, last dimension > 1) by top-1 per row, as a classifier's caller
 * sees it; without one, every output must be all-close (|a − b| ≤ atol + rtol·|a|) or equal.
 */
export function compareOutputs(primary: readonly Tensor[], shadow: readonly Tensor[], tolerance = { rtol: 1e-5, atol: 1e-6 }): Comparison {
  let maxAbsDiff = 0;
  let allClose = true;
  let top1: boolean | undefined;
  for (const p of primary) {
    const s = shadow.find((t) => t.name === p.name);
    if (!s || s.datatype !== p.datatype || !sameShape(p.shape, s.shape)) {
      allClose = false;
      if (top1 === undefined && FLOAT_TYPES.has(p.datatype) && p.shape.length >= 2 && p.shape[p.shape.length - 1]! > 1) top1 = false;
      continue;
    }
    const a = asNumbers(p);
    const b = asNumbers(s);
    if (!a || !b) {
      const pa = p.data as Buffer[];
      const sb = s.data as Buffer[];
      if (pa.some((x, i) => !x.equals(sb[i]!))) allClose = false;
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (Number.isNaN(x) !== Number.isNaN(y)) allClose = false;
        continue;
      }
      const d = Math.abs(x - y);
      if (d > maxAbsDiff) maxAbsDiff = d;
      if (d > tolerance.atol + tolerance.rtol * Math.abs(x)) allClose = false;
    }
    const classes = p.shape[p.shape.length - 1]!;
    if (top1 === undefined && FLOAT_TYPES.has(p.datatype) && p.shape.length >= 2 && classes > 1) {
      const ta = argmaxRows(a, classes);
      const tb = argmaxRows(b, classes);
      top1 = ta.every((c, i) => c === tb[i]);
    }
  }
  return top1 === undefined ? { agree: allClose, maxAbsDiff, method: 'allclose' } : { agree: top1, maxAbsDiff, method: 'top1' };
}

/** A deep copy of request inputs: the runtime transfers (detaches) the buffers it is given. */
export function cloneTensors(tensors: readonly Tensor[]): Tensor[] {
  return tensors.map((t) => ({
    name: t.name,
    datatype: t.datatype,
    shape: [...t.shape],
    data: Array.isArray(t.data) ? t.data.map((b) => Buffer.from(b)) : (t.data as NumericArray).slice(),
  }));
}

// --- latency quantiles --------------------------------------------------------------------

/** The last `capacity` samples, for p50/p99 of a rollout's latencies. */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(capacity = 4096) {
    this.samples = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled++;
  }

  get count(): number {
    return this.filled;
  }

  /** Nearest-rank quantile; undefined without samples. */
  quantile(q: number): number | undefined {
    if (this.filled === 0) return undefined;
    return quantileNearestRank(sortedNumbers(this.samples.subarray(0, this.filled)), q);
  }

  summary(): { p50?: number; p99?: number; samples: number } {
    return { p50: round3(this.quantile(0.5)), p99: round3(this.quantile(0.99)), samples: this.filled };
  }
}

function round3(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.round(v * 1000) / 1000;
}

// --- per-model state ---------------------------------------------------------------------

export interface ShadowStats {
  version: string;
  /** requests whose copy reached the shadow and was compared */
  mirrored: number;
  /** compared copies whose answer agreed (see compareOutputs) */
  agreed: number;
  /** agreed / mirrored, or null before the first comparison */
  agreement: number | null;
  /** copies not sent because the shadow queue was full */
  skipped: number;
  /** copies the shadow failed to answer (errors are counted, never returned) */
  failed: number;
  maxAbsDiff: number;
  /** milliseconds in the core: production's answer vs the shadow's, same requests */
  latencyMs: { primary: { p50?: number; p99?: number; samples: number }; shadow: { p50?: number; p99?: number; samples: number } };
}

export interface RolloutStats {
  model: string;
  policy: TrafficPolicy;
  /** when this policy took effect (ISO 8601) */
  since: string;
  /** requests answered under this policy, by version (explicit-version requests included) */
  requests: Record<string, { success: number; failure: number }>;
  /** share of unversioned requests that went to the canary, or null without a canary */
  canaryShare: number | null;
  shadow?: ShadowStats;
}

export class ModelTraffic {
  readonly since = new Date();
  readonly requests = new Map<string, { success: number; failure: number }>();
  unversioned = 0;
  toCanary = 0;
  shadowInFlight = 0;
  mirrored = 0;
  agreed = 0;
  skipped = 0;
  failed = 0;
  maxAbsDiff = 0;
  readonly primaryLatency = new LatencyWindow();
  readonly shadowLatency = new LatencyWindow();

  constructor(readonly model: string, readonly policy: TrafficPolicy, readonly maxShadowInFlight: number) {}

  recordRequest(version: string, outcome: 'success' | 'failure'): void {
    let c = this.requests.get(version);
    if (!c) this.requests.set(version, (c = { success: 0, failure: 0 }));
    c[outcome]++;
  }

  /** Reserves a shadow slot; false (and counted as skipped) when the shadow queue is full. */
  reserveShadow(): boolean {
    if (this.shadowInFlight >= this.maxShadowInFlight) {
      this.skipped++;
      return false;
    }
    this.shadowInFlight++;
    return true;
  }

  releaseShadow(): void {
    this.shadowInFlight--;
  }

  recordComparison(c: Comparison, primaryMs: number, shadowMs: number): void {
    this.mirrored++;
    if (c.agree) this.agreed++;
    if (c.maxAbsDiff > this.maxAbsDiff) this.maxAbsDiff = c.maxAbsDiff;
    this.primaryLatency.add(primaryMs);
    this.shadowLatency.add(shadowMs);
  }

  stats(): RolloutStats {
    const requests: RolloutStats['requests'] = {};
    for (const [v, c] of [...this.requests.entries()].sort((a, b) => Number(a[0]) - Number(b[0]))) requests[v] = { ...c };
    const out: RolloutStats = {
      model: this.model,
      policy: this.policy,
      since: this.since.toISOString(),
      requests,
      canaryShare: this.policy.canary ? (this.unversioned === 0 ? 0 : this.toCanary / this.unversioned) : null,
    };
    if (this.policy.shadow) {
      out.shadow = {
        version: this.policy.shadow,
        mirrored: this.mirrored,
        agreed: this.agreed,
        agreement: this.mirrored === 0 ? null : this.agreed / this.mirrored,
        skipped: this.skipped,
        failed: this.failed,
        maxAbsDiff: this.maxAbsDiff,
        latencyMs: { primary: this.primaryLatency.summary(), shadow: this.shadowLatency.summary() },
      };
    }
    return out;
  }
}

// --- changing a policy without downtime -------------------------------------------------------

/** What applyTraffic needs from the service (InferenceService implements it). */
export interface TrafficTarget {
  loadSource(source: ModelSource, options?: { configOverride?: unknown }): Promise<void>;
  setTraffic(name: string, policy: TrafficPolicy | undefined): void;
  getTraffic(name: string): TrafficPolicy | undefined;
  isLoaded(name: string): boolean;
  modelStatus(name: string, version?: string): { ready: boolean; reason: string };
  loadedVersionFiles(name: string): Map<string, string>;
}

function withVersions(source: ModelSource, versions: readonly string[]): ModelSource {
  const base = source.configFile && typeof source.configFile === 'object' ? (source.configFile as Record<string, unknown>) : {};
  return { ...source, configFile: { ...base, version_policy: { specific: { versions: versions.map(Number).sort((a, b) => a - b) } } } };
}

/**
 * Moves a model to a new traffic policy with no failed request: (1) load and warm every version
 * the new policy needs beside the ones serving now, (2) switch the policy in one synchronous
 * step, (3) reload with only the needed versions, so the ones that left finish their queued and
 * running requests and unload. `source.versions` must hold a path for every version the policy
 * names. When a needed version fails to load, the policy is not switched (what was serving
 * keeps serving) and the error is thrown.
 *
 * A model that had no policy first gets `{production}` alone, so that while its versions load
 * the canary or shadow can never answer as the "highest ready version".
 */
export async function applyTraffic(service: TrafficTarget, source: ModelSource, policy: TrafficPolicy): Promise<void> {
  validatePolicy(policy);
  const needed = policyVersions(policy);
  for (const v of needed) {
    if (!source.versions.has(Number(v))) throw invalidArgument(`model '${source.name}': no file for version ${v}`);
  }
  if (!service.getTraffic(source.name)) service.setTraffic(source.name, { production: policy.production });
  const status = (v: string): { ready: boolean; reason: string } => {
    try {
      return service.modelStatus(source.name, v);
    } catch (err) {
      return { ready: false, reason: (err as Error).message };
    }
  };
  // Step 1 keeps every version loaded now (from the files they were loaded from, unless the
  // source names a file for them) so that nothing serving is retired before the switch.
  const current = service.isLoaded(source.name) ? service.loadedVersionFiles(source.name) : new Map<string, string>();
  const files = new Map(source.versions);
  const serving = [...current.keys()].filter((v) => status(v).ready);
  for (const v of serving) if (!files.has(Number(v))) files.set(Number(v), current.get(v)!);
  const union = [...new Set([...serving, ...needed])];
  await service.loadSource(withVersions({ ...source, versions: files }, union));
  const notReady = needed.filter((v) => !status(v).ready);
  if (notReady.length > 0) {
    const reasons = notReady.map((v) => `version ${v}: ${status(v).reason || 'not ready'}`).join('; ');
    throw invalidArgument(`model '${source.name}': cannot switch traffic, ${reasons}`);
  }
  service.setTraffic(source.name, policy);
  if (union.length !== needed.length) await service.loadSource(withVersions(source, needed));
}
