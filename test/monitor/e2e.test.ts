/**
 * End to end: serve the digits example with monitoring on, send traffic with request ids, post
 * ground-truth labels, inject 20% wrong ones: the accuracy drops in /metrics and an alert
 * webhook (a local receiver on loopback) gets `firing`; labels recover: it gets `resolved`, and
 * never a duplicate. Along the way: drift against the training split (clean traffic not flagged,
 * rotated images flagged) and capture of every request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { ensureDigitsModel, testSplit, trainSplit } from '../../src/examples/digits/index.js';
import { buildProfile, saveProfile } from '../../src/monitor/drift/profile.js';
import { concatenate, readCaptured } from '../../src/monitor/capture/export.js';
import { captureDir } from '../../src/monitor/capture/store.js';
import type { Notification } from '../../src/monitor/alerts/manager.js';
import { getJson, postJson } from '../helpers/http.js';
import { tempDir } from '../helpers/models.js';

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('monitoring end to end (digits example)', () => {
  const held = testSplit();
  const home = tempDir('berth-e2e-home-');
  const received: Notification[] = [];
  let receiver: Server;
  let server: RunningServer;
  let url: string;
  let sent = 0;
  const predictions = new Map<string, number>();

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Notification);
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    const rules = join(home, 'rules.yaml');
    writeFileSync(rules, [
      'interval: 200ms',
      'rules:',
      '  - name: digits-accuracy',
      '    model: digits',
      '    when: { accuracy_below: 0.9, min_labelled: 50 }',
      `    webhook: ${hook}`,
      '    labels: { severity: page }',
      '  - name: digits-drift',
      '    model: digits',
      '    when: { drift_windows: 1 }',
      '',
    ].join('\n'));
    // the drift reference: the training split, as `berth monitor profile` would save it
    const train = trainSplit();
    await saveProfile(home, 'digits', '1', buildProfile({ samples: train.n, inputs: { pixels: { datatype: 'FP32', shape: [train.n, 64], data: train.x } } }));
    const models = tempDir('berth-e2e-models-');
    await ensureDigitsModel(models);
    server = await startServer({
      paths: [join(models, 'digits')],
      http: { port: 0 },
      home,
      monitoring: { captureRate: 1, accuracyWindow: 100, driftWindow: 100, driftReferenceSize: 100, driftMaxSamplesPerSec: 0, alerts: rules },
      grpc: { enabled: false },
    });
    url = server.url;
  });
  after(async () => {
    await server?.close();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  /** Sends held-out rows [from, to) one request each with id `${prefix}${i}`; remembers predictions. */
  async function traffic(prefix: string, from: number, to: number, transform?: (x: number[]) => number[]): Promise<void> {
    for (let i = from; i < to; i++) {
      let pixels = Array.from(held.x.subarray(i * 64, (i + 1) * 64));
      if (transform) pixels = transform(pixels);
      const r = await postJson(`${url}/v2/models/digits/infer`, { id: `${prefix}${i}`, inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: pixels }], outputs: [{ name: 'label' }] });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-request-id'), `${prefix}${i}`);
      predictions.set(`${prefix}${i}`, (r.body.outputs as { data: number[] }[])[0].data[0]);
      sent++;
    }
  }

  /** Posts labels for rows [from, to): the truth, except every `wrongEvery`-th gets a label unlike the prediction. */
  async function label(prefix: string, from: number, to: number, wrongEvery = 0): Promise<Record<string, unknown>> {
    const feedback = [];
    for (let i = from; i < to; i++) {
      const id = `${prefix}${i}`;
      const injected = wrongEvery > 0 && (i - from) % wrongEvery === 0;
      feedback.push({ id, label: injected ? (predictions.get(id)! + 1) % 10 : held.y[i] });
    }
    const r = await postJson(`${url}/api/v1/models/digits/feedback`, { feedback });
    assert.equal(r.status, 200);
    return r.body;
  }

  const metric = async (name: string): Promise<number | undefined> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(`^${name}\\{model="digits",version="1"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const accuracyState = async (): Promise<string> => {
    const { body } = await getJson(`${url}/api/v1/alerts`);
    return (body.rules as { name: string; state: string }[]).find((r) => r.name === 'digits-accuracy')!.state;
  };

  test('clean traffic with true labels: high accuracy, no alert, no drift', async () => {
    await traffic('a', 0, 150);
    const r = await label('a', 0, 150);
    assert.deepEqual([r.matched, r.unmatched], [150, []]);
    const acc = await metric('berth_model_accuracy');
    console.log(`# accuracy with true labels: ${acc}`);
    assert.ok(acc !== undefined && acc >= 0.93, `accuracy ${acc}`);
    await new Promise((res) => setTimeout(res, 600)); // three evaluations
    assert.equal(await accuracyState(), 'inactive');
    assert.equal(received.length, 0);
    const drift = await getJson(`${url}/api/v1/models/digits/drift`);
    assert.equal(drift.status, 200);
    assert.equal(drift.body.status, 'ok');
    assert.equal(drift.body.dataset_drift, false);
    assert.equal((drift.body.reference as { source: string }).source, 'dataset');
    assert.equal((drift.body.features as unknown[]).length, 64);
    assert.ok((drift.body.features as { name: string; method: string; statistic: number; threshold: number; drifted: boolean; psi: number; psi_band: string }[]).every((f) => f.name.startsWith('pixels[') && ['ks', 'chisquare', 'z'].includes(f.method) && typeof f.psi === 'number'));
  });

  test('20% wrong labels injected: accuracy drops in /metrics and the webhook gets `firing`', async () => {
    await traffic('b', 150, 250);
    const r = await label('b', 150, 250, 5);
    assert.equal(r.matched, 100);
    const acc = await metric('berth_model_accuracy');
    console.log(`# accuracy over the last 100 labels with 20% injected errors: ${acc}`);
    assert.ok(acc !== undefined && acc <= 0.82, `accuracy ${acc}`);
    await waitUntil('a firing notification', () => received.some((n) => n.status === 'firing'));
    assert.equal(await accuracyState(), 'firing');
    const firing = received.find((n) => n.status === 'firing')!;
    assert.deepEqual([firing.rule, firing.model, firing.version, firing.condition, firing.labels], ['digits-accuracy', 'digits', '1', 'accuracy_below', { severity: 'page' }]);
    assert.ok(firing.value! < 0.9);
    const accuracy = await getJson(`${url}/api/v1/models/digits/accuracy`);
    assert.equal(accuracy.body.accuracy, acc);
    assert.equal(accuracy.body.labelled, 250);
  });

  test('labels recover: the webhook gets `resolved`, and there was no duplicate `firing`', async () => {
    await traffic('c', 250, 350);
    await label('c', 250, 350);
    await waitUntil('a resolved notification', () => received.some((n) => n.status === 'resolved'));
    const acc = await metric('berth_model_accuracy');
    assert.ok(acc !== undefined && acc >= 0.9, `accuracy ${acc}`);
    await new Promise((res) => setTimeout(res, 600));
    const mine = received.filter((n) => n.rule === 'digits-accuracy');
    assert.deepEqual(mine.map((n) => n.status), ['firing', 'resolved']);
    assert.equal(await accuracyState(), 'inactive');
    const { body } = await getJson(`${url}/api/v1/alerts`);
    const notes = body.notifications as { rule: string; status: string; delivered: boolean }[];
    assert.deepEqual(notes.filter((n) => n.rule === 'digits-accuracy').map((n) => [n.status, n.delivered]), [['resolved', true], ['firing', true]]);
  });

  test('rotated images: drift is flagged in the API and in /metrics', async () => {
    const rotate = (p: number[]): number[] => {
      const out = new Array<number>(64);
      for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) out[c * 8 + (7 - r)] = p[r * 8 + c];
      return out;
    };
    await traffic('d', 0, 200, rotate);
    await waitUntil('a drifted window', async () => (await getJson(`${url}/api/v1/models/digits/drift`)).body.dataset_drift === true);
    const { body } = await getJson(`${url}/api/v1/models/digits/drift`);
    console.log(`# rotated digits served: drifted share ${body.drifted_share}; prediction drift ${(body.prediction_drift as { drifted: boolean } | null)?.drifted}`);
    assert.ok((body.drifted_share as number) >= 0.5);
    assert.equal(await metric('berth_drift_dataset_drifted'), 1);
    assert.ok((await metric('berth_drift_share'))! >= 0.5);
    // the drift rule (1 drifted window) fires too; it has no webhook, so it is only listed
    await waitUntil('the drift alert', async () => {
      const alerts = await getJson(`${url}/api/v1/alerts`);
      return (alerts.body.rules as { name: string; state: string }[]).find((r) => r.name === 'digits-drift')!.state === 'firing';
    });
  });

  test('every request was captured, and the capture exports what was sent', async () => {
    await server.monitoring!.capture!.flush();
    const records = await readCaptured(captureDir(home), { model: 'digits' });
    assert.equal(records.length, sent);
    const first = concatenate(records.filter((r) => r.requestId.startsWith('a')), 'inputs');
    assert.deepEqual(first.tensors[0].shape, [150, 64]);
    assert.deepEqual(Array.from(first.tensors[0].data as Float32Array), Array.from(held.x.subarray(0, 150 * 64)));
    assert.equal(first.ids[0], 'a0');
  });
});
