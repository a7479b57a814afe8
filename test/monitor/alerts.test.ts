/**
 * Alert rules: the YAML schema, the inactive → pending → firing → resolved state machine over
 * each figure (accuracy, drift windows, p99 latency, error rate), one notification per
 * transition delivered to a webhook (a local receiver), retries, and the request window.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlertManager } from '../../src/monitor/alerts/manager.js';
import type { AlertSources, Notification } from '../../src/monitor/alerts/manager.js';
import { RequestWindow, bucketOf, bucketUpperNs } from '../../src/monitor/alerts/request-window.js';
import { loadAlertsFile, parseAlertsYaml, parseDuration } from '../../src/monitor/alerts/rules.js';
import { tempDir } from '../helpers/models.js';

/** A webhook receiver on loopback that records what it gets; it can fail the first N posts. */
class Receiver {
  received: Notification[] = [];
  failFirst = 0;
  private server?: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (this.failFirst > 0) {
          this.failFirst--;
          res.statusCode = 500;
          res.end();
          return;
        }
        this.received.push(JSON.parse(body) as Notification);
        res.end('{}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server!.close(() => r()));
  }
}

const EXAMPLE = `
interval: 2s
webhooks:
  ops: { url: "http://127.0.0.1:9/hook", headers: { authorization: "Bearer s3cret" }, timeout: 2s }
rules:
  - name: digits-accuracy
    model: digits
    when: { accuracy_below: 0.9, min_labelled: 50 }
    for: 1m
    webhook: ops
    labels: { severity: page }
  - name: drift
    when: { drift_windows: 3 }
    webhook: http://127.0.0.1:9/drift
  - name: output-drift
    when: { prediction_drift_windows: 2 }
  - name: slow
    model: digits
    version: 1
    when: { p99_latency_ms_above: 50, window: 1m, min_requests: 100 }
  - name: errors
    when: { error_rate_above: 0.05 }
`;

describe('alert rules file', () => {
  test('the documented example parses', () => {
    const c = parseAlertsYaml(EXAMPLE);
    assert.equal(c.intervalSecs, 2);
    assert.deepEqual(c.rules.map((r) => [r.name, r.kind, r.threshold]), [
      ['digits-accuracy', 'accuracy_below', 0.9],
      ['drift', 'drift_windows', 3],
      ['output-drift', 'prediction_drift_windows', 2],
      ['slow', 'p99_latency_ms_above', 50],
      ['errors', 'error_rate_above', 0.05],
    ]);
    const [acc, drift, , slow, errors] = c.rules;
    assert.deepEqual([acc.minLabelled, acc.forSecs, acc.labels, acc.webhook], [50, 60, { severity: 'page' }, { url: 'http://127.0.0.1:9/hook', headers: { authorization: 'Bearer s3cret' }, timeoutMs: 2000 }]);
    assert.deepEqual([drift.model, drift.webhook?.url], [undefined, 'http://127.0.0.1:9/drift']);
    assert.deepEqual([slow.version, slow.windowSecs, slow.minRequests], ['1', 60, 100]);
    assert.deepEqual([errors.windowSecs, errors.minRequests, errors.forSecs], [300, 20, 0]);
  });

  test('mistakes are reported with where they are', () => {
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { accuracy_below: 0.9, error_rate_above: 0.1 }\n'), /exactly one of .* \(has accuracy_below, error_rate_above\)/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: {}\n'), /rules\.0 \(a\): 'when' needs exactly one/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { drift_windows: 2 }\n    webhook: pager\n'), /'pager' is neither a webhook name/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { drift_windows: 2 }\n  - name: a\n    when: { drift_windows: 3 }\n'), /used twice/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { drift_windows: 2 }\n    for: soon\n'), /duration/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { accuracy_below: 2 }\n'), /rules\.0\.when\.accuracy_below/);
    assert.throws(() => parseAlertsYaml('rules:\n  - name: a\n    when: { drift_windows: 2 }\n    colour: red\n'), /colour|Unrecognized/);
    assert.throws(() => parseAlertsYaml('rules: [oops'), /not valid YAML/);
    assert.deepEqual(['500ms', '30s', '5m', '1h', 7].map((d) => parseDuration(d, 'x')), [0.5, 30, 300, 3600, 7]);
  });

  test('a rules file is read from disk', async () => {
    const path = join(tempDir('berth-alerts-'), 'rules.yaml');
    writeFileSync(path, EXAMPLE);
    assert.equal((await loadAlertsFile(path)).rules.length, 5);
    await assert.rejects(loadAlertsFile(join(tempDir(), 'missing.yaml')), /not found/);
  });
});

describe('alert evaluation and webhooks', () => {
  const receiver = new Receiver();
  before(() => receiver.start());
  after(() => receiver.close());

  test('accuracy: fires once while low (no duplicates), resolves once; no data keeps the state', async () => {
    receiver.received = [];
    let figure: { version: string; accuracy: number | null; labelled: number } | undefined;
    const sources: AlertSources = { models: () => ['digits', 'other'], accuracy: (m) => (m === 'digits' ? figure : undefined) };
    const config = parseAlertsYaml(`rules:\n  - name: acc\n    when: { accuracy_below: 0.9, min_labelled: 50 }\n    webhook: ${receiver.url}\n    labels: { team: ml }\n`);
    const alerts = new AlertManager(config, sources);
    const t0 = 1_700_000_000_000;
    const step = async (acc: number | null, labelled: number, k: number): Promise<string> => {
      figure = acc === null ? undefined : { version: '1', accuracy: acc, labelled };
      alerts.evaluate(t0 + k * 1000);
      await alerts.settled();
      return (alerts.list().rules[0] as { state: string }).state;
    };
    assert.equal(await step(0.5, 10, 0), 'inactive', 'too few labels: no verdict');
    assert.equal(await step(0.97, 100, 1), 'inactive');
    assert.equal(await step(0.78, 100, 2), 'firing');
    assert.equal(await step(0.75, 100, 3), 'firing');
    assert.equal(await step(null, 0, 4), 'firing', 'no data: keeps firing');
    assert.equal(await step(0.8, 100, 5), 'firing');
    assert.equal(receiver.received.length, 1, 'one notification while firing');
    assert.equal(await step(0.95, 100, 6), 'inactive');
    assert.equal(await step(0.96, 100, 7), 'inactive');
    assert.deepEqual(receiver.received.map((n) => [n.status, n.rule, n.model, n.version, n.value]), [
      ['firing', 'acc', 'digits', '1', 0.78],
      ['resolved', 'acc', 'digits', '1', 0.95],
    ]);
    const [firing, resolved] = receiver.received;
    assert.deepEqual(firing.labels, { team: 'ml' });
    assert.equal(firing.condition, 'accuracy_below');
    assert.equal(firing.threshold, 0.9);
    assert.match(firing.summary, /accuracy 0\.780 is below 0\.9/);
    assert.equal(resolved.started_at, firing.started_at);
    assert.equal(resolved.resolved_at, new Date(t0 + 6000).toISOString());
    const listed = alerts.list();
    assert.equal(listed.notifications.length, 2);
    assert.ok(listed.notifications.every((n) => n.delivered && n.attempts === 1));
    const rule = listed.rules[0] as { alerts: { model: string; state: string; value: number | null }[] };
    assert.deepEqual(rule.alerts.map((a) => [a.model, a.state]), [['digits', 'inactive'], ['other', 'inactive']]);
    await alerts.close();
  });

  test('`for`: pending until the condition has held long enough; a blip never fires', async () => {
    receiver.received = [];
    let consecutive = 0;
    const sources: AlertSources = { models: () => ['m'], drift: () => ({ version: '3', consecutive, predictionConsecutive: null }) };
    const alerts = new AlertManager(parseAlertsYaml(`rules:\n  - name: d\n    model: m\n    when: { drift_windows: 2 }\n    for: 10s\n    webhook: ${receiver.url}\n`), sources);
    const state = (): string => (alerts.list().rules[0] as { state: string }).state;
    const t0 = 1_700_000_000_000;
    consecutive = 2;
    alerts.evaluate(t0);
    assert.equal(state(), 'pending');
    consecutive = 0;
    alerts.evaluate(t0 + 5000);
    assert.equal(state(), 'inactive', 'the blip ended before `for`');
    consecutive = 3;
    alerts.evaluate(t0 + 6000);
    alerts.evaluate(t0 + 12000);
    assert.equal(state(), 'pending');
    alerts.evaluate(t0 + 16000);
    assert.equal(state(), 'firing');
    await alerts.settled();
    assert.deepEqual(receiver.received.map((n) => [n.status, n.version, n.value]), [['firing', '3', 3]]);
    await alerts.close();
  });

  test('p99 latency and error rate over the request window', async () => {
    receiver.received = [];
    const requests = new RequestWindow(60);
    const alerts = new AlertManager(
      parseAlertsYaml(`rules:\n  - name: slow\n    when: { p99_latency_ms_above: 20, window: 10s, min_requests: 50 }\n    webhook: ${receiver.url}\n  - name: errors\n    when: { error_rate_above: 0.1, window: 10s, min_requests: 50 }\n    webhook: ${receiver.url}\n`),
      { models: () => ['m'], requests },
    );
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 100; i++) requests.record('m', true, 5e6, t0); // 5 ms
    alerts.evaluate(t0);
    const states = (): string[] => (alerts.list().rules as { state: string }[]).map((r) => r.state);
    assert.deepEqual(states(), ['inactive', 'inactive']);
    // in the next second 30 requests fail and 3 take 40 ms: over both seconds 15% failed and
    // 3 of 170 successes (1.8%) are slow, so the p99 is above 20 ms
    for (let i = 0; i < 100; i++) requests.record('m', i >= 30, i < 33 && i >= 30 ? 40e6 : 5e6, t0 + 1000);
    alerts.evaluate(t0 + 1000);
    assert.deepEqual(states(), ['firing', 'firing']);
    const f = requests.figures('m', 10, t0 + 1000);
    assert.equal(f.requests, 200);
    assert.equal(f.failures, 30);
    assert.ok(f.p99_ms! >= 40 && f.p99_ms! <= 40 * 1.04, `p99 ${f.p99_ms}`);
    // 20 s later the slow second has left the 10 s window
    for (let i = 0; i < 100; i++) requests.record('m', true, 5e6, t0 + 20_000);
    alerts.evaluate(t0 + 20_000);
    assert.deepEqual(states(), ['inactive', 'inactive']);
    await alerts.settled();
    assert.deepEqual(receiver.received.map((n) => [n.rule, n.status]).sort(), [['errors', 'firing'], ['errors', 'resolved'], ['slow', 'firing'], ['slow', 'resolved']]);
    await alerts.close();
  });

  test('webhook delivery retries a failing receiver', async () => {
    receiver.received = [];
    receiver.failFirst = 1;
    let acc = 0.5;
    const alerts = new AlertManager(parseAlertsYaml(`rules:\n  - name: acc\n    when: { accuracy_below: 0.9, min_labelled: 1 }\n    webhook: ${receiver.url}\n`), { models: () => ['m'], accuracy: () => ({ version: '1', accuracy: acc, labelled: 10 }) });
    alerts.evaluate();
    await alerts.settled();
    assert.equal(receiver.received.length, 1);
    const [n] = alerts.list().notifications;
    assert.deepEqual([n.delivered, n.attempts], [true, 2]);
    acc = 1;
    alerts.evaluate();
    await alerts.close();
    assert.deepEqual(receiver.received.map((r) => r.status), ['firing', 'resolved']);
  });

  test('latency buckets are 4% wide and never underestimate', () => {
    for (const ns of [1e4, 5e4, 1e6, 2.5e6, 7.77e7, 3e9]) {
      const b = bucketOf(ns);
      assert.ok(bucketUpperNs(b) >= ns && bucketUpperNs(b) <= ns * 1.0401, `${ns}: bucket ${b} upper ${bucketUpperNs(b)}`);
    }
  });
});
