/**
 * Accuracy from ground truth: labels posted by request id are joined to the predictions
 * remembered (independently of capture), single or batch, late or unknown; rolling accuracy
 * per version in the API and in /metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedbackTracker, parseFeedbackBody } from '../../src/monitor/feedback.js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';
import { record } from './helpers-drift.js';

function scores(requestId: string, rows: number[][], version = '1'): ReturnType<typeof record> {
  const k = rows[0].length;
  return record('m', version, [], [{ name: 'scores', datatype: 'FP32', shape: [rows.length, k], data: Float32Array.from(rows.flat()) }], rows.length, requestId);
}

describe('feedback tracker', () => {
  test('top-1 from scores (argmax) and from a label output; labels by value or by class name', () => {
    const t = new FeedbackTracker({ window: 4, classNames: () => ['cat', 'dog', 'bird'] });
    t.recordPrediction(scores('a', [[0.1, 0.7, 0.2]]));
    t.recordPrediction(scores('b', [[0.9, 0.05, 0.05]]));
    t.recordPrediction(record('m', '1', [], [
      { name: 'probabilities', datatype: 'FP32', shape: [2, 3], data: Float32Array.from([0, 0, 1, 1, 0, 0]) },
      { name: 'label', datatype: 'INT64', shape: [2], data: BigInt64Array.from([2n, 0n]) },
    ], 2, 'c'));
    const r = t.submit('m', [{ id: 'a', label: 1 }, { id: 'b', label: 'dog' }, { id: 'c', label: ['bird', 0] }]);
    assert.deepEqual([r.matched, r.correct, r.incorrect], [3, 3, 1]);
    assert.deepEqual(r.accuracy, { '1': 0.75 });
    const f = t.figures('m', '1')!;
    assert.deepEqual([f.labelled, f.correct, f.accuracy, f.rolling.labelled], [4, 3, 0.75, 4]);
    assert.equal(f.buckets.length, 1);
  });

  test('unknown ids are reported, duplicates count once, bad items are listed, the batch goes on', () => {
    const t = new FeedbackTracker();
    t.recordPrediction(scores('x', [[1, 0]]));
    t.recordPrediction(scores('y', [[0, 1], [1, 0]]));
    const r = t.submit('m', [
      { id: 'x', label: 0 },
      { id: 'x', label: 1 },
      { id: 'nope', label: 0 },
      { id: 'y', label: 1 },
      { label: 3 } as never,
      { id: 'y', label: [1, 0] },
    ]);
    assert.deepEqual(r.unmatched, ['nope']);
    assert.deepEqual(r.duplicates, ['x']);
    assert.deepEqual(r.invalid.map((i) => i.index), [3, 4]);
    assert.match(r.invalid[0].error, /2 samples/);
    assert.deepEqual([r.received, r.matched, r.correct, r.incorrect], [6, 2, 3, 0]);
    // labels for another model do not match this one's predictions
    assert.deepEqual(t.submit('other', [{ id: 'x', label: 0 }]).unmatched, ['x']);
  });

  test('the rolling window forgets old labels; versions are kept apart', () => {
    const t = new FeedbackTracker({ window: 10 });
    for (let i = 0; i < 30; i++) t.recordPrediction(scores(`r${i}`, [[1, 0]], i < 20 ? '1' : '2'));
    // version 1: 10 wrong then 10 right; version 2: all wrong
    t.submit('m', Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, label: i < 10 ? 1 : 0 })));
    t.submit('m', Array.from({ length: 10 }, (_, i) => ({ id: `r${20 + i}`, label: 1 })));
    assert.deepEqual(t.rolling('m', '1'), { version: '1', accuracy: 1, labelled: 10 });
    assert.equal(t.figures('m', '1')!.accuracy, 0.5);
    assert.deepEqual(t.rolling('m'), { version: '2', accuracy: 0, labelled: 10 });
    assert.deepEqual(t.versions('m'), ['1', '2']);
  });

  test('the index of predictions is bounded: the oldest are forgotten', () => {
    const t = new FeedbackTracker({ indexSize: 100 });
    for (let i = 0; i < 250; i++) t.recordPrediction(scores(`r${i}`, [[1, 0]]));
    assert.equal(t.indexed, 100);
    const r = t.submit('m', [{ id: 'r0', label: 0 }, { id: 'r149', label: 0 }, { id: 'r150', label: 0 }, { id: 'r249', label: 0 }]);
    assert.deepEqual([r.unmatched, r.matched], [['r0', 'r149'], 2]);
  });

  test('a large index keeps exactly the last N predictions, across its generations; a reused id answers with its latest', () => {
    const n = 20_000; // several generations of the id index
    const t = new FeedbackTracker({ indexSize: n });
    for (let i = 0; i < 50_000; i++) t.recordPrediction(scores(`r${i}`, [[i % 2, 1 - (i % 2)]]));
    assert.equal(t.indexed, n);
    const oldest = 50_000 - n;
    const r = t.submit('m', [{ id: `r${oldest - 1}`, label: 0 }, { id: `r${oldest}`, label: oldest % 2 === 0 ? 1 : 0 }, { id: 'r49999', label: 0 }]);
    assert.deepEqual([r.unmatched, r.matched, r.correct], [[`r${oldest - 1}`], 2, 2]);
    const again = new FeedbackTracker({ indexSize: 100 });
    again.recordPrediction(scores('x', [[1, 0]]));
    again.recordPrediction(scores('x', [[0, 1]]));
    assert.equal(again.submit('m', [{ id: 'x', label: 1 }]).correct, 1, 'the latest prediction for a reused id counts');
  });

  test('ids are indexed when labels come: predictions of two models between label batches all join', () => {
    // predictions are indexed lazily (at the next submit), so interleave predictions and labels
    const t = new FeedbackTracker({ indexSize: 50 });
    const other = (id: string) => {
      const r = scores(id, [[0, 1]]);
      r.model = 'n';
      return r;
    };
    for (let i = 0; i < 30; i++) t.recordPrediction(i % 3 === 0 ? other(`o${i}`) : scores(`r${i}`, [[1, 0]]));
    assert.equal(t.submit('m', [{ id: 'r1', label: 0 }]).matched, 1);
    for (let i = 30; i < 60; i++) t.recordPrediction(i % 3 === 0 ? other(`o${i}`) : scores(`r${i}`, [[1, 0]]));
    // ring of 50: predictions 10..59 are remembered
    const m = t.submit('m', [{ id: 'r2', label: 0 }, { id: 'r11', label: 0 }, { id: 'r59', label: 1 }, { id: 'o33', label: 0 }]);
    assert.deepEqual([m.unmatched, m.matched, m.correct], [['r2', 'o33'], 2, 1]);
    const n = t.submit('n', [{ id: 'o9', label: 1 }, { id: 'o12', label: 1 }, { id: 'o57', label: 1 }, { id: 'r13', label: 0 }]);
    assert.deepEqual([n.unmatched, n.matched, n.correct], [['o9', 'r13'], 2, 2]);
  });

  test('ids are matched exactly: near-identical, long and non-ASCII ids do not stand in for each other', () => {
    // the ring keeps two 32-bit hashes of each id, not the id: ids that differ by one character,
    // by order, or only beyond the first kilobyte must still find their own prediction and no other
    const t = new FeedbackTracker({ indexSize: 1000 });
    const long = 'x'.repeat(2000);
    const ids = ['ab', 'ba', 'a', 'b', 'é', 'e\u0301', '👍', `${long}1`, `${long}2`, '', ' ab'];
    ids.forEach((id, i) => t.recordPrediction(scores(id || 'empty', [[i % 2, 1 - (i % 2)]])));
    const r = t.submit('m', ids.filter((id) => id !== '').map((id) => ({ id, label: ids.indexOf(id) % 2 === 0 ? 1 : 0 })));
    assert.deepEqual([r.matched, r.correct, r.unmatched], [ids.length - 1, ids.length - 1, []]);
    const none = t.submit('m', [{ id: 'abc', label: 0 }, { id: `${long}3`, label: 0 }, { id: 'e', label: 0 }, { id: 'A', label: 0 }]);
    assert.deepEqual(none.unmatched, ['abc', `${long}3`, 'e', 'A']);
  });

  test('request bodies: single, batch, bare array', () => {
    assert.deepEqual(parseFeedbackBody({ id: 'a', label: 1 }), [{ id: 'a', label: 1 }]);
    assert.deepEqual(parseFeedbackBody({ feedback: [{ id: 'a', label: 1 }] }), [{ id: 'a', label: 1 }]);
    assert.deepEqual(parseFeedbackBody([{ id: 'a', label: 1 }]), [{ id: 'a', label: 1 }]);
    assert.equal(typeof parseFeedbackBody({ nope: 1 }), 'string');
  });
});

describe('feedback over HTTP (capture off: the join does not need it)', () => {
  let server: RunningServer;
  let url: string;
  // affine model: argmax of [1,2,3,4] is class 0, of [-1,0.5,2,-3] class 2
  const rowA = [1, 2, 3, 4];
  const rowB = [-1, 0.5, 2, -3];

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    server = await startServer({ paths: [repo], http: { port: 0 }, home: tempDir('berth-home-'), monitoring: { captureRate: 0, accuracyWindow: 100, driftWindow: 0 }, grpc: { enabled: false } });
    url = server.url;
  });
  after(() => server.close());

  const infer = async (id: string | undefined, rows: number[][]): Promise<string> => {
    const r = await postJson(`${url}/v2/models/affine/infer`, { ...(id ? { id } : {}), inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] });
    assert.equal(r.status, 200);
    return r.headers.get('x-request-id')!;
  };

  test('labels join to predictions by client ids and server-assigned ids; unknown ids are listed', async () => {
    await infer('one', [rowA]);
    await infer('two', [rowB]);
    const assigned = await infer(undefined, [rowA, rowB]);
    assert.match(assigned, /^[0-9a-f-]{36}$/);
    const single = await postJson(`${url}/api/v1/models/affine/feedback`, { id: 'one', label: 0 });
    assert.equal(single.status, 200);
    assert.deepEqual([single.body.matched, single.body.correct], [1, 1]);
    const batch = await postJson(`${url}/api/v1/models/affine/feedback`, { feedback: [{ id: 'two', label: 1 }, { id: assigned, label: [0, 2] }, { id: 'ghost', label: 0 }] });
    assert.equal(batch.status, 200);
    assert.deepEqual([batch.body.matched, batch.body.correct, batch.body.incorrect, batch.body.unmatched], [2, 2, 1, ['ghost']]);
    const acc = await getJson(`${url}/api/v1/models/affine/accuracy`);
    assert.equal(acc.status, 200);
    assert.equal(acc.body.accuracy, 0.75);
    assert.equal(acc.body.unmatched_total, 1);
    const v = (acc.body.versions as { version: string; labelled: number; rolling: { window: number } }[])[0];
    assert.deepEqual([v.version, v.labelled, v.rolling.window], ['1', 4, 100]);
  });

  test('accuracy is a metric', async () => {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^berth_model_accuracy\{model="affine",version="1"\} 0\.75$/m);
    assert.match(text, /^berth_model_accuracy_labelled\{model="affine",version="1"\} 4$/m);
  });

  test('errors: bad JSON, an empty batch, an unknown model', async () => {
    const bad = await postJson(`${url}/api/v1/models/affine/feedback`, '{not json');
    assert.equal(bad.status, 400);
    const empty = await postJson(`${url}/api/v1/models/affine/feedback`, { feedback: [] });
    assert.equal(empty.status, 400);
    const unknown = await postJson(`${url}/api/v1/models/nope/feedback`, { id: 'a', label: 1 });
    assert.equal(unknown.status, 404);
    const drift = await getJson(`${url}/api/v1/models/affine/drift`);
    assert.equal(drift.status, 404);
    assert.match(String(drift.body.error), /drift monitoring is off/);
  });
});
