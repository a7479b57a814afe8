/**
 * Per-model request figures over a sliding time window, for alert rules on latency and error
 * rate: one slot per second in a ring; each slot counts requests and failures and keeps a
 * log-scale latency histogram (buckets 4% wide from 10 µs), so a percentile over the window is
 * exact to within one bucket (its upper edge is reported: never an underestimate).
 *
 * Recording is a few array writes per request (hot path); percentiles are computed on demand.
 */
const GROWTH = 1.04;
const LOG_GROWTH = Math.log(GROWTH);
const BASE_NS = 10_000;
const BUCKETS = 480; // 10 µs · 1.04^480 ≈ 1.5 · 10⁴ s

interface ModelRing {
  second: Float64Array;
  requests: Uint32Array;
  failures: Uint32Array;
  hist: Uint32Array;
}

export interface WindowFigures {
  requests: number;
  failures: number;
  error_rate: number | null;
  /** over successful requests, milliseconds */
  p50_ms: number | null;
  p99_ms: number | null;
}

export function bucketOf(ns: number): number {
  if (!(ns > BASE_NS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ns / BASE_NS) / LOG_GROWTH));
}

/** The upper edge of a bucket, nanoseconds. */
export function bucketUpperNs(bucket: number): number {
  return BASE_NS * GROWTH ** bucket;
}

export class RequestWindow {
  private readonly rings = new Map<string, ModelRing>();

  /** `maxSecs`: the longest window any rule asks for. */
  constructor(readonly maxSecs: number) {}

  private ring(model: string): ModelRing {
    let r = this.rings.get(model);
    if (!r) {
      const n = this.maxSecs;
      r = { second: new Float64Array(n).fill(-1), requests: new Uint32Array(n), failures: new Uint32Array(n), hist: new Uint32Array(n * BUCKETS) };
      this.rings.set(model, r);
    }
    return r;
  }

  record(model: string, ok: boolean, durationNs: number, atMs = Date.now()): void {
    const r = this.ring(model);
    const sec = Math.floor(atMs / 1000);
    const slot = sec % this.maxSecs;
    if (r.second[slot] !== sec) {
      r.second[slot] = sec;
      r.requests[slot] = 0;
      r.failures[slot] = 0;
      r.hist.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS);
    }
    r.requests[slot]++;
    if (ok) r.hist[slot * BUCKETS + bucketOf(durationNs)]++;
    else r.failures[slot]++;
  }

  /** Figures of the last `windowSecs` seconds (this second included). */
  figures(model: string, windowSecs: number, nowMs = Date.now()): WindowFigures {
    const r = this.rings.get(model);
    const empty: WindowFigures = { requests: 0, failures: 0, error_rate: null, p50_ms: null, p99_ms: null };
    if (!r) return empty;
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(windowSecs, this.maxSecs);
    const merged = new Float64Array(BUCKETS);
    let requests = 0;
    let failures = 0;
    for (let s = now - span + 1; s <= now; s++) {
      const slot = ((s % this.maxSecs) + this.maxSecs) % this.maxSecs;
      if (r.second[slot] !== s) continue;
      requests += r.requests[slot];
      failures += r.failures[slot];
      const base = slot * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) merged[b] += r.hist[base + b];
    }
    if (requests === 0) return empty;
    const pct = (q: number): number | null => {
      const ok = requests - failures;
      if (ok === 0) return null;
      const rank = Math.ceil(q * ok);
      let cum = 0;
      for (let b = 0; b < BUCKETS; b++) {
        cum += merged[b];
        if (cum >= rank) return bucketUpperNs(b) / 1e6;
      }
      return bucketUpperNs(BUCKETS - 1) / 1e6;
    };
    return { requests, failures, error_rate: failures / requests, p50_ms: pct(0.5), p99_ms: pct(0.99) };
  }
}
