/**
 * Prediction capture: the sampling rate is honoured, rotation bounds the store's bytes, and an
 * export is a .npy that numpy (Debian python3-numpy) reads with the right shape and values.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Tensor } from '../../src/core/tensor.js';
import { CaptureStore, requestsToSkip } from '../../src/monitor/capture/store.js';
import { concatenate, listSegments, parseTime, readCaptured, writeExport } from '../../src/monitor/capture/export.js';
import { appendRecord, decodeSegment, encodeRecord, MAGIC } from '../../src/monitor/capture/format.js';
import type { CapturedRecord, RecordSink } from '../../src/monitor/capture/format.js';
import { registerCaptureCommands } from '../../src/cli/commands/capture.js';
import { readDataset } from '../../src/datasets/index.js';
import { hasNumpy, python, record } from './helpers-drift.js';
import { tempDir } from '../helpers/models.js';
import { lcg32 } from '../../src/util/random.js';

const ROW = 4;

/** Request i: `rows` samples whose values encode (i, row, column), and a label per sample. */
function request(i: number, rows = 1, version = '1', at = Date.now()): ReturnType<typeof record> {
  const x = new Float32Array(rows * ROW);
  for (let r = 0; r < rows; r++) for (let c = 0; c < ROW; c++) x[r * ROW + c] = i * 100 + r * 10 + c;
  const inputs: Tensor[] = [{ name: 'input', datatype: 'FP32', shape: [rows, ROW], data: x }];
  const outputs: Tensor[] = [{ name: 'label', datatype: 'INT64', shape: [rows], data: BigInt64Array.from({ length: rows }, (_, r) => BigInt(i + r)) }];
  const rec = record('toy', version, inputs, outputs, rows, `req-${i}`);
  rec.startedAt = at;
  return rec;
}

async function runCli(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerCaptureCommands(program);
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'berth', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('prediction capture', () => {
  test('the sampling rate is honoured', async () => {
    const n = 5000;
    for (const rate of [0, 0.05, 0.3, 1]) {
      const dir = tempDir('berth-capture-');
      const store = new CaptureStore({ dir, rate });
      for (let i = 0; i < n; i++) store.offer(request(i));
      await store.close();
      const written = (await readCaptured(dir)).length;
      const sd = Math.sqrt(n * rate * (1 - rate));
      console.log(`# capture rate ${rate}: ${written} of ${n} captured (expected ${n * rate} ± ${(4 * sd).toFixed(0)})`);
      assert.ok(Math.abs(written - n * rate) <= 4 * sd + 1e-9, `rate ${rate}: ${written} of ${n}`);
      assert.equal(store.stats().records, written);
    }
  });

  test('the gaps between samples are geometric: each request is taken with the rate, independently', () => {
    // skipping a geometric number of requests is the same as a coin per request: P(gap = k) = (1-p)^k p
    const next = lcg32(12345, 1103515245, 12345);
    const random = (): number => next() / 2 ** 32;
    for (const p of [0.1, 0.5]) {
      const n = 200_000;
      const counts = new Map<number, number>();
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const k = requestsToSkip(p, random);
        sum += k;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      assert.ok(Math.abs(sum / n - (1 - p) / p) < 0.03 * ((1 - p) / p) + 0.01, `p ${p}: mean gap ${sum / n}`);
      for (const k of [0, 1, 2, 5]) {
        const want = (1 - p) ** k * p;
        const got = (counts.get(k) ?? 0) / n;
        assert.ok(Math.abs(got - want) < 4 * Math.sqrt((want * (1 - want)) / n) + 1e-4, `p ${p}: P(gap=${k}) ${got} vs ${want}`);
      }
    }
    assert.equal(requestsToSkip(1), 0);
    assert.equal(requestsToSkip(0), Infinity);
  });

  test('failed requests are not captured and tensors are copied, not referenced', async () => {
    const dir = tempDir('berth-capture-');
    const store = new CaptureStore({ dir, rate: 1 });
    const ok = request(1);
    store.offer(ok);
    store.offer({ ...request(2), outcome: 'failure', outputs: undefined });
    (ok.inputs[0].data as Float32Array).fill(-1); // the caller reuses its buffer after the request
    await store.close();
    const records = await readCaptured(dir);
    assert.equal(records.length, 1);
    assert.deepEqual(Array.from(records[0].inputs[0].data as Float32Array), [100, 101, 102, 103]);
    assert.equal(records[0].requestId, 'req-1');
  });

  test('rotation bounds the bytes: oldest segments go, the newest records stay', async () => {
    const dir = tempDir('berth-capture-');
    const maxBytes = 256 * 1024;
    const store = new CaptureStore({ dir, rate: 1, maxBytes, flushMs: 5 });
    const big = (i: number): ReturnType<typeof record> => {
      const r = request(i, 64); // 64 rows × 4 floats ≈ 1 KiB of tensor data a record
      return r;
    };
    let peak = 0;
    for (let i = 0; i < 2000; i++) {
      store.offer(big(i));
      if (i % 100 === 99) {
        await store.flush();
        const onDisk = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
        peak = Math.max(peak, onDisk);
      }
    }
    await store.close();
    const stats = store.stats();
    const onDisk = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    console.log(`# rotation: ${stats.records} records written (~${(2000 * 1.4).toFixed(0)} KiB), ${onDisk} bytes on disk (bound ${maxBytes}), peak ${peak}, ${stats.rotated} segments deleted`);
    assert.ok(onDisk <= maxBytes, `${onDisk} > ${maxBytes}`);
    assert.ok(peak <= maxBytes, `peak ${peak} > ${maxBytes}`);
    assert.ok(stats.rotated > 0);
    assert.equal(stats.bytes, onDisk);
    const kept = await readCaptured(dir);
    assert.ok(kept.length > 50);
    // what is left is the most recent, contiguous run of requests
    const ids = kept.map((r) => Number(r.requestId.slice(4)));
    assert.equal(ids.at(-1), 1999);
    ids.forEach((id, k) => k > 0 && assert.equal(id, ids[k - 1] + 1));
  });

  test('a segment cut short by a crash is read up to its last whole record', () => {
    const a = encodeRecord({ time: 1, model: 'm', version: '1', requestId: 'a', rows: 1, inputs: request(1).inputs as Tensor[], outputs: [] });
    const b = encodeRecord({ time: 2, model: 'm', version: '1', requestId: 'b', rows: 1, inputs: request(2).inputs as Tensor[], outputs: [] });
    const whole = Buffer.concat([MAGIC, a, b]);
    assert.equal(decodeSegment(whole).records.length, 2);
    const cut = decodeSegment(whole.subarray(0, whole.length - 5));
    assert.deepEqual([cut.records.map((r) => r.requestId), cut.clean], [['a'], false]);
  });

  test('record headers are the JSON of their fields, odd names and ids included', () => {
    const odd = { time: 1732492800123.5, model: 'mö"del\n', version: '\ud800', requestId: 'tab\there ✓', rows: 1, inputs: [{ ...request(1).inputs[0]!, name: 'in\\put' } as Tensor], outputs: [] };
    const [record] = decodeSegment(Buffer.concat([MAGIC, encodeRecord(odd)])).records;
    assert.deepEqual([record!.time, record!.model, record!.version, record!.requestId, record!.inputs[0]!.name], [odd.time, odd.model, odd.version, odd.requestId, 'in\\put']);
    assert.deepEqual(Array.from(record!.inputs[0]!.data as Float32Array), Array.from(odd.inputs[0]!.data as Float32Array));
  });

  test('headers kept per model are used only for the same layout: every record reads back as written', () => {
    // one sink with its tails cache, records whose rows, shapes, names, versions and models change
    const sink: RecordSink = { buf: Buffer.alloc(16), off: 0, tails: new Map() };
    const written: CapturedRecord[] = [];
    const add = (i: number, rows: number, opts: { version?: string; model?: string; name?: string } = {}): void => {
      const r = request(i, rows, opts.version);
      const rec: CapturedRecord = { time: r.startedAt, model: opts.model ?? 'toy', version: r.version, requestId: r.requestId, rows, inputs: r.inputs.map((t) => ({ ...t, name: opts.name ?? t.name })), outputs: r.outputs as Tensor[] };
      written.push(rec);
      appendRecord(sink, rec);
    };
    add(0, 1);
    add(1, 1);
    add(2, 3);
    add(3, 3, { version: '2' });
    add(4, 3, { name: 'other' });
    add(5, 1, { model: 'second' });
    add(6, 3);
    const { records, clean } = decodeSegment(Buffer.concat([MAGIC, sink.buf.subarray(0, sink.off)]));
    assert.ok(clean);
    assert.equal(records.length, written.length);
    records.forEach((got, i) => {
      const want = written[i]!;
      assert.deepEqual([got.model, got.version, got.requestId, got.rows], [want.model, want.version, want.requestId, want.rows], `record ${i}`);
      assert.deepEqual(got.inputs.map((t) => [t.name, t.datatype, t.shape, Array.from(t.data as Float32Array)]), want.inputs.map((t) => [t.name, t.datatype, t.shape, Array.from(t.data as Float32Array)]), `record ${i} inputs`);
      assert.deepEqual(got.outputs.map((t) => [t.name, t.shape, Array.from(t.data as BigInt64Array)]), want.outputs.map((t) => [t.name, t.shape, Array.from(t.data as BigInt64Array)]), `record ${i} outputs`);
    });
  });

  test('export: .npy read back by numpy with the right shape and values; filters by version and time', { skip: hasNumpy() ? false : 'needs /usr/bin/python3 with numpy' }, async () => {
    const home = tempDir('berth-capture-');
    const dir = join(home, 'monitor', 'capture');
    const store = new CaptureStore({ dir, rate: 1 });
    const t0 = Date.parse('2024-05-01T00:00:00Z');
    for (let i = 0; i < 30; i++) store.offer(request(i, 1 + (i % 3), i < 20 ? '1' : '2', t0 + i * 60_000));
    await store.close();

    // the CLI: version 1, from minute 5 on (requests 5..19), inputs, with ids
    const out = join(home, 'data.npy');
    const ids = join(home, 'ids.txt');
    const summary = JSON.parse(await runCli(['capture', 'export', 'toy', '--version', '1', '--since', new Date(t0 + 5 * 60_000).toISOString(), '-o', out, '--ids', ids, '--home', home, '--json'])) as { samples: number; records: number };
    const expectedRows: number[][] = [];
    const expectedIds: string[] = [];
    for (let i = 5; i < 20; i++) {
      const rows = 1 + (i % 3);
      for (let r = 0; r < rows; r++) {
        expectedRows.push(Array.from({ length: ROW }, (_, c) => i * 100 + r * 10 + c));
        expectedIds.push(rows === 1 ? `req-${i}` : `req-${i}#${r}`);
      }
    }
    assert.deepEqual([summary.records, summary.samples], [15, expectedRows.length]);
    assert.deepEqual(readFileSync(ids, 'utf8').trim().split('\n'), expectedIds);
    const np = python<{ shape: number[]; dtype: string; values: number[][] }>(
      `import json, sys\nimport numpy as np\na = np.load(json.load(sys.stdin))\nprint(json.dumps(dict(shape=list(a.shape), dtype=str(a.dtype), values=a.tolist())))`,
      out,
    );
    assert.deepEqual(np.shape, [expectedRows.length, ROW]);
    assert.equal(np.dtype, 'float32');
    assert.deepEqual(np.values, expectedRows);

    // outputs of version 2 until minute 25 (requests 20..24): int64 labels
    const outY = join(home, 'labels.npy');
    await runCli(['capture', 'export', 'toy', '--version', '2', '--until', String(t0 + 25 * 60_000), '--outputs', '-o', outY, '--home', home, '--json']);
    const labels = python<{ shape: number[]; dtype: string; values: number[] }>(
      `import json, sys\nimport numpy as np\na = np.load(json.load(sys.stdin))\nprint(json.dumps(dict(shape=list(a.shape), dtype=str(a.dtype), values=a.tolist())))`,
      outY,
    );
    const want: number[] = [];
    for (let i = 20; i < 25; i++) for (let r = 0; r < 1 + (i % 3); r++) want.push(i + r);
    assert.deepEqual([labels.shape, labels.dtype, labels.values], [[want.length], 'int64', want]);

    // berth's own reader takes the export as a dataset too (what `monitor profile --data` uses)
    const ds = await readDataset(out);
    assert.deepEqual([ds.samples, ds.inputs.input.shape], [expectedRows.length, [expectedRows.length, ROW]]);

    // a directory output gets NAME.npy per tensor
    const files = await writeExport(concatenate(await readCaptured(dir, { model: 'toy' }), 'inputs'), join(home, 'all'));
    assert.deepEqual(files, [join(home, 'all', 'input.npy')]);
    const info = JSON.parse(await runCli(['capture', 'info', '--home', home, '--json'])) as { models: { version: string; requests: number }[] };
    assert.deepEqual(info.models.map((m) => [m.version, m.requests]), [['1', 20], ['2', 10]]);
    assert.equal((await listSegments(dir)).length, 1);
  });

  test('times: ISO dates, epoch milliseconds, durations ago', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(parseTime('2024-05-01T11:00:00Z', now), now - 3_600_000);
    assert.equal(parseTime('2h', now), now - 7_200_000);
    assert.equal(parseTime('30m', now), now - 1_800_000);
    assert.equal(parseTime('7d', now), now - 7 * 86_400_000);
    assert.equal(parseTime(String(now), now), now);
    assert.equal(parseTime('now', now), now);
    assert.throws(() => parseTime('yesterday-ish', now), /cannot read/);
  });

  test('a truncated tail in a store file does not stop the export', async () => {
    const dir = tempDir('berth-capture-');
    const store = new CaptureStore({ dir, rate: 1 });
    for (let i = 0; i < 5; i++) store.offer(request(i));
    await store.close();
    const [seg] = await listSegments(dir);
    appendFileSync(seg.path, Buffer.from([200, 0, 0, 0, 1, 2]));
    assert.equal((await readCaptured(dir)).length, 5);
  });
});
