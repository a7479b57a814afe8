/**
 * Traffic for the dashboard tests and screenshots: digits requests from the held-out split
 * (optionally disturbed, to make drift), and feedback labels for some of them.
 */
import { testSplit } from '../../src/examples/digits/index.js';

export interface TrafficOptions {
  /** requests to send */
  count: number;
  /** first row of the held-out split to use (wraps around) */
  offset?: number;
  /** add this many units of deterministic noise to each pixel, clipped to 0..16 (drift) */
  noise?: number;
  /** send ground truth for this share of the requests (0..1) */
  feedbackShare?: number;
  /** label a share of the feedback wrongly, so accuracy is not a flat 100% */
  wrongShare?: number;
  /** send this share of the requests with a wrong shape (63 values): answered 400, counted as errors */
  badShare?: number;
  /** requests in flight at once */
  concurrency?: number;
  headers?: Record<string, string>;
}

/** Sends digits requests to /v2/models/digits/infer and feedback for some; returns the status counts. */
export async function sendDigitsTraffic(url: string, options: TrafficOptions): Promise<Map<number, number>> {
  const split = testSplit();
  const statuses = new Map<number, number>();
  const feedback: { id: string; label: number }[] = [];
  let next = 0;
  const prefix = `t${Date.now().toString(36)}-`;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const i = next++;
      // k numbers the request across calls, so the shares below hold over many small calls too
      const k = i + (options.offset ?? 0);
      const row = k % split.n;
      const pixels = Array.from(split.x.subarray(row * 64, row * 64 + 64), (v, j) => {
        if (!options.noise) return v;
        const wobble = ((row * 31 + j * 17) % 7) - 3; // -3..3, the same on every run
        return Math.min(16, Math.max(0, v + Math.round((wobble * options.noise) / 3)));
      });
      const id = `${prefix}${i}`;
      const bad = options.badShare !== undefined && (k * 0.377) % 1 < options.badShare;
      if (bad) pixels.pop();
      const res = await fetch(`${url}/v2/models/digits/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: JSON.stringify({ id, inputs: [{ name: 'pixels', shape: [1, pixels.length], datatype: 'FP32', data: pixels }], outputs: [{ name: 'label' }] }),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200 && options.feedbackShare && (k * 0.618) % 1 < options.feedbackShare) {
        const wrong = options.wrongShare && (k * 0.414) % 1 < options.wrongShare;
        feedback.push({ id, label: wrong ? (split.y[row]! + 1) % 10 : split.y[row]! });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  if (feedback.length > 0) {
    const res = await fetch(`${url}/api/v1/models/digits/feedback`, { method: 'POST', headers: { 'content-type': 'application/json', ...options.headers }, body: JSON.stringify({ feedback }) });
    if (res.status !== 200) throw new Error(`feedback: HTTP ${res.status} ${await res.text()}`);
  }
  return statuses;
}
