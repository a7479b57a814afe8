/**
 * Reading the capture store back: records by model, version and time, and their tensors
 * concatenated into a dataset (first axis = samples) written as .npy, for retraining and for
 * drift references (`berth capture export`, `berth monitor profile --data`).
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Datatype, NumericArray } from '../../core/tensor.js';
import { DATATYPES } from '../../core/tensor.js';
import type { DatasetDatatype, TypedArray } from '../../datasets/index.js';
import { writeNpy } from '../../datasets/index.js';
import type { CapturedRecord, DecodeFilter } from './format.js';
import { SEGMENT_SUFFIX, decodeSegment } from './format.js';

/** Segment files of a capture directory, oldest first. */
export async function listSegments(dir: string): Promise<{ name: string; path: string; firstMs: number; bytes: number; mtimeMs: number }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = await stat(path);
      out.push({ name, path, firstMs: Number(name.split('-')[0]), bytes: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // rotated away meanwhile
    }
  }
  return out;
}

/** Captured records that pass the filter, oldest first. */
export async function readCaptured(dir: string, filter: DecodeFilter = {}): Promise<CapturedRecord[]> {
  const out: CapturedRecord[] = [];
  for (const seg of await listSegments(dir)) {
    if (filter.until !== undefined && seg.firstMs >= filter.until) continue;
    // a segment's last record is no later than its last write
    if (filter.since !== undefined && seg.mtimeMs + 1000 < filter.since) continue;
    let bytes: Buffer;
    try {
      bytes = await readFile(seg.path);
    } catch {
      continue;
    }
    out.push(...decodeSegment(bytes, filter).records);
  }
  return out.sort((a, b) => a.time - b.time);
}

export interface ExportedTensor {
  name: string;
  datatype: Datatype;
  /** [samples, ...per-sample shape] */
  shape: number[];
  data: NumericArray;
}

export interface ExportResult {
  records: number;
  samples: number;
  /** records left out because a tensor's per-sample shape or datatype differed from the first record's */
  skipped: number;
  tensors: ExportedTensor[];
  /** the request id of each sample, in order */
  ids: string[];
  /** tensors that cannot be written to .npy (BYTES) */
  unsupported: string[];
}

/** Concatenates one side (inputs or outputs) of captured records along the sample axis. */
export function concatenate(records: CapturedRecord[], side: 'inputs' | 'outputs' = 'inputs'): ExportResult {
  const result: ExportResult = { records: 0, samples: 0, skipped: 0, tensors: [], ids: [], unsupported: [] };
  if (records.length === 0) return result;
  const perSample = (shape: number[], rows: number): number[] => (shape.length > 0 && shape[0] === rows ? shape.slice(1) : [shape.reduce((a, b) => a * b, 1) / rows]);
  const first = records[0][side];
  const layout = first.map((t) => ({ name: t.name, datatype: t.datatype, sample: perSample(t.shape, records[0].rows) }));
  const key = (l: { name: string; datatype: Datatype; sample: number[] }): string => `${l.name}|${l.datatype}|${l.sample.join('x')}`;
  const want = layout.map(key).join(',');
  const kept: CapturedRecord[] = [];
  for (const r of records) {
    const got = r[side].map((t) => ({ name: t.name, datatype: t.datatype, sample: perSample(t.shape, r.rows) }));
    if (got.map(key).join(',') !== want) {
      result.skipped++;
      continue;
    }
    kept.push(r);
  }
  const samples = kept.reduce((n, r) => n + r.rows, 0);
  result.records = kept.length;
  result.samples = samples;
  for (const r of kept) for (let i = 0; i < r.rows; i++) result.ids.push(r.rows === 1 ? r.requestId : `${r.requestId}#${i}`);
  layout.forEach((l, ti) => {
    if (l.datatype === 'BYTES') {
      result.unsupported.push(l.name);
      return;
    }
    const per = l.sample.reduce((a, b) => a * b, 1);
    const Ctor = DATATYPES[l.datatype].array!;
    const data = new Ctor(samples * per);
    let offset = 0;
    for (const r of kept) {
      const src = r[side][ti].data as NumericArray;
      (data as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(src as ArrayLike<number | bigint>, offset);
      offset += src.length;
    }
    result.tensors.push({ name: l.name, datatype: l.datatype, shape: [samples, ...l.sample], data });
  });
  return result;
}

/**
 * Writes an export: a `.npy` path takes one tensor (the only one, or `tensor`); any other path
 * is a directory that gets NAME.npy per tensor (what `readDataset` reads as several inputs).
 * Returns the files written.
 */
export async function writeExport(result: ExportResult, out: string, tensor?: string): Promise<string[]> {
  let tensors = result.tensors;
  if (tensor !== undefined) {
    tensors = tensors.filter((t) => t.name === tensor);
    if (tensors.length === 0) throw new Error(`no tensor '${tensor}' in the capture (have: ${result.tensors.map((t) => t.name).join(', ') || 'none'})`);
  }
  if (tensors.length === 0) throw new Error(result.unsupported.length ? `only BYTES tensors (${result.unsupported.join(', ')}), which .npy cannot hold` : 'nothing to export');
  const write = (path: string, t: ExportedTensor): Promise<void> => writeNpy(path, t.shape, t.data as TypedArray, t.datatype as DatasetDatatype);
  if (out.toLowerCase().endsWith('.npy')) {
    if (tensors.length > 1) throw new Error(`the capture holds ${tensors.length} tensors (${tensors.map((t) => t.name).join(', ')}): pick one with --tensor, or give a directory to get NAME.npy for each`);
    await write(out, tensors[0]);
    return [out];
  }
  await mkdir(out, { recursive: true });
  const files: string[] = [];
  for (const t of tensors) {
    const path = join(out, `${t.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`);
    await write(path, t);
    files.push(path);
  }
  return files;
}

/** Writes the request ids of an export, one per line. */
export async function writeIds(result: ExportResult, path: string): Promise<void> {
  await writeFile(path, result.ids.length ? `${result.ids.join('\n')}\n` : '');
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time: an ISO date or date-time, milliseconds since the epoch, `now`, or a
 * duration ago (`30s`, `15m`, `2h`, `7d`, `1w`).
 */
export function parseTime(text: string, now = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(t);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]];
  if (/^\d{9,}$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new Error(`cannot read '${text}' as a time: use an ISO date (2024-05-01T12:00Z), epoch milliseconds, or a duration ago (30m, 2h, 7d)`);
  return ms;
}
