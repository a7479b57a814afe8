/**
 * Accuracy from delayed ground truth. Every successful prediction's top-1 answer is remembered
 * by request id (a bounded map of the last N, independent of the capture sampling rate: it is
 * a few dozen bytes per request); labels posted later (`POST /api/v1/models/{m}/feedback`) are
 * joined to it by id, and the result feeds per-version accuracy: overall, over a rolling window
 * of the last W labelled predictions, and in time buckets (by prediction time) for charts.
 *
 * Top-1 is read from the model's outputs: the first output holding one integer or string per
 * sample (a label output), else the argmax of the first floating-point output with two or more
 * values per sample (scores or probabilities). A label matches when it equals the predicted
 * value or, when the model's config.json has `labels`, the predicted class's name.
 */
import { predictionId, type RequestRecord } from '../core/observer.js';
import type { Tensor } from '../core/tensor.js';
import { DEFAULTS } from '../config/defaults.js';

export interface FeedbackOptions {
  /** predictions remembered for the join (default 100 000) */
  indexSize?: number;
  /** labelled predictions in the rolling accuracy window, per version (default 1000) */
  window?: number;
  /** width of the chart buckets, seconds (default 60) */
  bucketSecs?: number;
  /** buckets kept per version (default 1440: a day of minutes) */
  maxBuckets?: number;
  /** class names of a model (its config's `labels`), to match labels given by name */
  classNames?: (model: string) => readonly string[] | undefined;
}

/** Top-1 of one request: a class index or label value per sample (one sample: not an array). */
type Top1 = number | string | (number | string)[];

class Rolling {
  private readonly bits: Uint8Array;
  private next = 0;
  count = 0;
  correct = 0;
  constructor(size: number) {
    this.bits = new Uint8Array(size);
  }
  push(ok: boolean): void {
    if (this.count === this.bits.length) this.correct -= this.bits[this.next];
    else this.count++;
    this.bits[this.next] = ok ? 1 : 0;
    if (ok) this.correct++;
    this.next = (this.next + 1) % this.bits.length;
  }
}

interface VersionAccuracy {
  labelled: number;
  correct: number;
  rolling: Rolling;
  buckets: Map<number, { labelled: number; correct: number }>;
  lastLabelAt: number;
}

export interface FeedbackItem {
  id: unknown;
  label: unknown;
}

export interface FeedbackResult {
  received: number;
  matched: number;
  correct: number;
  incorrect: number;
  /** ids with no remembered prediction (unknown, too old, or of another model) */
  unmatched: string[];
  /** ids already labelled: the first label counts */
  duplicates: string[];
  /** items without an id or a label, or whose label count does not fit the request's samples */
  invalid: { index: number; error: string }[];
  /** rolling accuracy of each version that got labels in this batch */
  accuracy: Record<string, number>;
}

export interface AccuracyFigures {
  version: string;
  labelled: number;
  correct: number;
  accuracy: number | null;
  rolling: { window: number; labelled: number; correct: number; accuracy: number | null };
  last_label_at: string | null;
  buckets: { start: string; labelled: number; correct: number; accuracy: number }[];
}

type Extractor = (outputs: readonly Tensor[], rows: number) => Top1 | undefined;

const elementCount = (t: Tensor): number => {
  let n = 1;
  for (const d of t.shape) n *= d;
  return n;
};

function labelValue(v: unknown): number | string {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/** Finds how to read top-1 answers from a model's outputs; undefined when it cannot. */
function extractorFor(outputs: readonly Tensor[], rows: number): Extractor | undefined {
  const labelIdx = outputs.findIndex((t) => (t.datatype === 'BYTES' || t.datatype === 'BOOL' || /INT/.test(t.datatype)) && elementCount(t) === rows);
  if (labelIdx >= 0) {
    const name = outputs[labelIdx].name;
    return (outs, n) => {
      const t = outs.length === 1 || outs[labelIdx]?.name !== name ? outs.find((o) => o.name === name) : outs[labelIdx];
      if (!t || elementCount(t) !== n) return undefined;
      const data = t.data as ArrayLike<unknown>;
      if (n === 1) return labelValue(data[0]);
      const out = new Array<number | string>(n);
      for (let i = 0; i < n; i++) out[i] = labelValue(data[i]);
      return out;
    };
  }
  const scoreIdx = outputs.findIndex((t) => /^FP/.test(t.datatype) && t.datatype !== 'FP16' && elementCount(t) >= 2 * rows && elementCount(t) % rows === 0);
  if (scoreIdx >= 0) {
    const name = outputs[scoreIdx].name;
    return (outs, n) => {
      const t = outs[scoreIdx]?.name === name ? outs[scoreIdx] : outs.find((o) => o.name === name);
      if (!t || n < 1 || elementCount(t) % n !== 0) return undefined;
      const k = elementCount(t) / n;
      const d = t.data as Float32Array | Float64Array;
      const out = new Array<number>(n);
      for (let r = 0; r < n; r++) {
        let best = 0;
        for (let j = 1; j < k; j++) if (d[r * k + j] > d[r * k + best]) best = j;
        out[r] = best;
      }
      return n === 1 ? out[0] : out;
    };
  }
  return undefined;
}

/**
 * A request id as two 32-bit hashes (FNV-1a and a multiply-xorshift of the UTF-16 code units),
 * left in `idHashA` and `idHashB`. The ring keeps these instead of the id strings: a string
 * held for the next 100 000 requests survives the young generation's collections and is copied
 * into the old one, every request's. Measured in-process (600 000 predictions with fresh UUIDs
 * and some garbage per request): 2.1 µs a request, 1.7 of it in the garbage collector, with
 * the strings; 0.8 µs and 0.16 without. Two ids share both hashes with a chance of about 2^-64.
 */
let idHashA = 0;
let idHashB = 0;
function hashId(id: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  idHashA = a >>> 0;
  idHashB = (b ^ (b >>> 16)) >>> 0;
}

/** The index's key of an id's hashes: 53 of their 64 bits (a Map key that is a plain number). */
const indexKey = (a: number, b: number): number => a * 2097152 + (b >>> 11);

/** Ids per generation of an IdIndex: small maps stay in cache (measured 0.35 µs a set, against 0.64 in a 100 000-entry map). */
const GENERATION_SIZE = 8192;

/**
 * Request id → ring slot, for one model, in generations of small Maps instead of one map with
 * a delete per evicted id: at steady state every prediction evicted one, and deletes in a
 * 100 000-entry map (holes, periodic rehashing, cache misses) made recording cost ~1 µs a
 * request on the serving thread. Now the oldest generation is dropped whole once the newer
 * ones cover the ring. The maps may hold ids whose slot was reused since (up to one generation
 * more than the ring); lookups, which are rare, check the slot still holds the id.
 */
class IdIndex {
  private readonly generations: Map<number, number>[] = [new Map()];
  private readonly generationSize: number;
  private readonly maxGenerations: number;

  constructor(ringSize: number) {
    this.generationSize = Math.max(1, Math.min(ringSize, GENERATION_SIZE));
    // full generations enough to hold the last ringSize ids, and the one being filled
    this.maxGenerations = Math.ceil(ringSize / this.generationSize) + 1;
  }

  set(key: number, slot: number): void {
    let current = this.generations[this.generations.length - 1]!;
    if (current.size >= this.generationSize) {
      current = new Map();
      this.generations.push(current);
      if (this.generations.length > this.maxGenerations) this.generations.shift();
    }
    current.set(key, slot);
  }

  /** The newest slot recorded for the key (the caller checks the slot still holds the id). */
  get(key: number): number | undefined {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const slot = this.generations[i]!.get(key);
      if (slot !== undefined) return slot;
    }
    return undefined;
  }
}

export class FeedbackTracker {
  readonly indexSize: number;
  readonly window: number;
  private readonly bucketMs: number;
  private readonly maxBuckets: number;
  /**
   * The remembered predictions live in a ring of slots (parallel arrays, so 100 000 of them
   * are a few flat arrays rather than 100 000 objects for the garbage collector to trace);
   * each model's IdIndex goes from request id (hashed) to slot. The oldest slot is reused: a
   * slot holds a prediction while slotMap and slotHashA/B still name its model's index and id.
   */
  private readonly index = new Map<string, IdIndex>();
  private readonly slotMap: (IdIndex | undefined)[];
  private readonly slotHashA: Uint32Array;
  private readonly slotHashB: Uint32Array;
  private readonly slotVersion: (string | undefined)[];
  private readonly slotPredicted: (Top1 | undefined)[];
  private readonly slotAt: Float64Array;
  private readonly slotLabelled: Uint8Array;
  private recorded = 0;
  /** predictions recorded before this one are in the id index (see slotOf) */
  private indexedUpTo = 0;
  private readonly extractors = new Map<string, Map<string, Extractor | null>>();
  private readonly accuracyByVersion = new Map<string, VersionAccuracy>();
  /** labels posted whose id was not found, per model */
  readonly unmatchedTotal = new Map<string, number>();

  constructor(private readonly options: FeedbackOptions = {}) {
    this.indexSize = options.indexSize ?? 100_000;
    this.window = options.window ?? DEFAULTS.monitoring.accuracyWindow;
    this.bucketMs = (options.bucketSecs ?? 60) * 1000;
    this.maxBuckets = options.maxBuckets ?? 1440;
    const n = this.indexSize;
    this.slotMap = new Array(n).fill(undefined);
    this.slotHashA = new Uint32Array(n);
    this.slotHashB = new Uint32Array(n);
    this.slotVersion = new Array(n).fill(undefined);
    this.slotPredicted = new Array(n).fill(undefined);
    this.slotAt = new Float64Array(n);
    this.slotLabelled = new Uint8Array(n);
  }

  /** Hot path: remembers a successful prediction's top-1 by request id. */
  recordPrediction(record: RequestRecord): void {
    if (record.outcome !== 'success' || !record.outputs || !record.version || this.indexSize === 0) return;
    let byVersion = this.extractors.get(record.model);
    if (!byVersion) {
      byVersion = new Map();
      this.extractors.set(record.model, byVersion);
    }
    let extract = byVersion.get(record.version);
    if (extract === undefined) {
      extract = extractorFor(record.outputs, record.rows) ?? null;
      byVersion.set(record.version, extract);
    }
    // A request may select other outputs than the first one seen: then look again, uncached.
    const predicted = (extract ? extract(record.outputs, record.rows) : undefined) ?? extractorFor(record.outputs, record.rows)?.(record.outputs, record.rows);
    if (predicted === undefined) return;
    let byId = this.index.get(record.model);
    if (!byId) {
      byId = new IdIndex(this.indexSize);
      this.index.set(record.model, byId);
    }
    // the id goes into byId when labels next arrive (slotOf), not on the serving path
    const slot = this.recorded % this.indexSize; // catchUp relies on prediction n being in slot n mod size
    this.recorded++;
    this.slotMap[slot] = byId;
    hashId(predictionId(record));
    this.slotHashA[slot] = idHashA;
    this.slotHashB[slot] = idHashB;
    this.slotVersion[slot] = record.version;
    this.slotPredicted[slot] = predicted;
    this.slotAt[slot] = record.startedAt;
    this.slotLabelled[slot] = 0;
  }

  /** Forgets how to read a version's outputs (after a reload, the outputs may differ). */
  forgetVersion(model: string, version: string): void {
    this.extractors.get(model)?.delete(version);
  }

  /** Joins labels to remembered predictions. Unknown ids are reported, not errors. */
  submit(model: string, items: readonly FeedbackItem[]): FeedbackResult {
    const result: FeedbackResult = { received: items.length, matched: 0, correct: 0, incorrect: 0, unmatched: [], duplicates: [], invalid: [], accuracy: {} };
    const names = this.options.classNames?.(model);
    const touched = new Set<string>();
    items.forEach((item, index) => {
      if (item === null || typeof item !== 'object') {
        result.invalid.push({ index, error: 'expected an object {"id": ..., "label": ...}' });
        return;
      }
      const id = typeof item.id === 'string' || typeof item.id === 'number' ? String(item.id) : undefined;
      if (!id) {
        result.invalid.push({ index, error: '"id" must be the request id (a string)' });
        return;
      }
      if (item.label === undefined || item.label === null) {
        result.invalid.push({ index, error: `"label" is missing for id '${id}'` });
        return;
      }
      const slot = this.slotOf(model, id);
      if (slot === undefined) {
        result.unmatched.push(id);
        this.unmatchedTotal.set(model, (this.unmatchedTotal.get(model) ?? 0) + 1);
        return;
      }
      if (this.slotLabelled[slot]) {
        result.duplicates.push(id);
        return;
      }
      const top1 = this.slotPredicted[slot]!;
      const predicted = Array.isArray(top1) ? top1 : [top1];
      const labels = Array.isArray(item.label) ? item.label : [item.label];
      if (labels.length !== predicted.length) {
        result.invalid.push({ index, error: `id '${id}' was a request of ${predicted.length} samples: give ${predicted.length === 1 ? 'one label' : `an array of ${predicted.length} labels`}` });
        return;
      }
      this.slotLabelled[slot] = 1;
      const version = this.slotVersion[slot]!;
      result.matched++;
      const acc = this.versionAccuracy(model, version);
      const bucket = Math.floor(this.slotAt[slot] / this.bucketMs) * this.bucketMs;
      let b = acc.buckets.get(bucket);
      if (!b) {
        b = { labelled: 0, correct: 0 };
        acc.buckets.set(bucket, b);
        if (acc.buckets.size > this.maxBuckets) acc.buckets.delete(Math.min(...acc.buckets.keys()));
      }
      labels.forEach((label, i) => {
        const want = String(label);
        const got = predicted[i];
        const ok = want === String(got) || (names !== undefined && typeof got === 'number' && names[got] === want);
        acc.labelled++;
        b.labelled++;
        if (ok) {
          acc.correct++;
          b.correct++;
          result.correct++;
        } else {
          result.incorrect++;
        }
        acc.rolling.push(ok);
      });
      acc.lastLabelAt = Date.now();
      touched.add(version);
    });
    for (const v of touched) {
      const r = this.accuracyByVersion.get(`${model}\u0000${v}`)!.rolling;
      result.accuracy[v] = r.count ? r.correct / r.count : 0;
    }
    return result;
  }

  /**
   * Puts the ids of the predictions recorded since the last call into their models' indexes,
   * oldest first (a reused id: the latest prediction counts). Indexing as predictions are made
   * cost ~1.4 µs of the serving thread per request (a Map set keyed by a fresh id string) for
   * every request, labelled or not; here it is paid once per prediction when labels come, in a
   * tight loop (~0.2 µs each; at most one ring: ~20 ms for 100 000 after a long time without labels).
   */
  private catchUp(): void {
    const from = Math.max(this.indexedUpTo, this.recorded - this.indexSize);
    for (let seq = from; seq < this.recorded; seq++) {
      const slot = seq % this.indexSize;
      this.slotMap[slot]!.set(indexKey(this.slotHashA[slot]!, this.slotHashB[slot]!), slot);
    }
    this.indexedUpTo = this.recorded;
  }

  /** The slot holding the prediction of request `id` of `model`, if it is still remembered. */
  private slotOf(model: string, id: string): number | undefined {
    if (this.indexedUpTo < this.recorded) this.catchUp();
    const byId = this.index.get(model);
    hashId(id);
    const a = idHashA;
    const b = idHashB;
    const slot = byId?.get(indexKey(a, b));
    return slot !== undefined && this.slotMap[slot] === byId && this.slotHashA[slot] === a && this.slotHashB[slot] === b ? slot : undefined;
  }

  private versionAccuracy(model: string, version: string): VersionAccuracy {
    const key = `${model}\u0000${version}`;
    let a = this.accuracyByVersion.get(key);
    if (!a) {
      a = { labelled: 0, correct: 0, rolling: new Rolling(this.window), buckets: new Map(), lastLabelAt: 0 };
      this.accuracyByVersion.set(key, a);
    }
    return a;
  }

  /** Versions of a model that have labels, ascending. */
  versions(model: string): string[] {
    const out: string[] = [];
    for (const key of this.accuracyByVersion.keys()) {
      const [m, v] = key.split('\u0000');
      if (m === model) out.push(v);
    }
    return out.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : 1));
  }

  /** Every (model, version) with labels. */
  entries(): { model: string; version: string }[] {
    return [...this.accuracyByVersion.keys()].map((k) => {
      const [model, version] = k.split('\u0000');
      return { model, version };
    });
  }

  /** Rolling accuracy of a version (or the latest version with labels). */
  rolling(model: string, version?: string): { version: string; accuracy: number | null; labelled: number } | undefined {
    const v = version ?? this.versions(model).at(-1);
    if (v === undefined) return undefined;
    const a = this.accuracyByVersion.get(`${model}\u0000${v}`);
    if (!a) return undefined;
    return { version: v, accuracy: a.rolling.count ? a.rolling.correct / a.rolling.count : null, labelled: a.rolling.count };
  }

  figures(model: string, version: string): AccuracyFigures | undefined {
    const a = this.accuracyByVersion.get(`${model}\u0000${version}`);
    if (!a) return undefined;
    const buckets = [...a.buckets.entries()].sort((x, y) => x[0] - y[0]).map(([start, b]) => ({ start: new Date(start).toISOString(), labelled: b.labelled, correct: b.correct, accuracy: b.correct / b.labelled }));
    return {
      version,
      labelled: a.labelled,
      correct: a.correct,
      accuracy: a.labelled ? a.correct / a.labelled : null,
      rolling: { window: this.window, labelled: a.rolling.count, correct: a.rolling.correct, accuracy: a.rolling.count ? a.rolling.correct / a.rolling.count : null },
      last_label_at: a.lastLabelAt ? new Date(a.lastLabelAt).toISOString() : null,
      buckets,
    };
  }

  /** Predictions remembered for the join right now (a request id sent twice counts twice). */
  get indexed(): number {
    return Math.min(this.recorded, this.indexSize);
  }
}

/** Reads a feedback body: `{"id", "label"}`, `{"feedback": [...]}` or a bare array. */
export function parseFeedbackBody(body: unknown): FeedbackItem[] | string {
  if (Array.isArray(body)) return body as FeedbackItem[];
  if (body && typeof body === 'object') {
    const o = body as Record<string, unknown>;
    if (Array.isArray(o.feedback)) return o.feedback as FeedbackItem[];
    if ('id' in o || 'label' in o) return [{ id: o.id, label: o.label }];
  }
  return 'expected {"id": REQUEST_ID, "label": LABEL} or {"feedback": [{"id": ..., "label": ...}, ...]}';
}
