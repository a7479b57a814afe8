/**
 * Takes the README's screenshots of the web dashboard: `npm run screenshots` (after
 * `npm run build`). It starts `serve --registry` on a throwaway home with the digits model in
 * three versions (v2 a retrain of v1 running as a 20% canary, v3 its int8 quantization as a
 * shadow), sends a few minutes of traffic with ground truth (and, at the end, noisy images that
 * drift), then has Chromium photograph each page into docs/images/dashboard-*.png.
 *
 * SCREENSHOT_SECS sets how long the traffic runs (default 150).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../src/server.js';
import { testSplit } from '../src/examples/digits/index.js';
import { loadModel, saveModel } from '../src/onnx/index.js';
import { quantize } from '../src/optimize/quantize/index.js';
import type { Browser } from 'playwright-core';
import { browserSkipReason, drawDigit, launchChromium } from '../test/dashboard/browser.js';
import { digitsRegistry } from '../test/dashboard/scenario.js';
import { sendDigitsTraffic } from '../test/dashboard/traffic.js';
import { tempDir } from '../test/helpers/models.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'docs', 'images');
const seconds = Number(process.env.SCREENSHOT_SECS ?? 150);

async function main(): Promise<void> {
  const reason = browserSkipReason();
  if (reason) throw new Error(reason);
  const dir = tempDir('berth-screenshots-');
  const reg = await digitsRegistry(dir, { canaryPercent: 20 });
  // v3: v2 quantized to int8, shadowing production
  const v3 = join(dir, 'digits-v3.onnx');
  const { model: int8 } = await quantize(await loadModel(join(dir, 'digits-v2.onnx')), { mode: 'dynamic' });
  await saveModel(int8, v3);
  await reg.registry.push(v3, { name: 'digits', parent: { name: 'digits', version: 2 }, derivedBy: 'quantize dynamic int8', tags: { stage: 'candidate' }, actor: 'ci' });
  await reg.registry.startRollout('digits', { canary: { version: 2, percent: 20 }, shadow: { version: 3 } }, 'alice');

  const server = await startServer({
    paths: [],
    http: { port: 0 },
    grpc: { enabled: false },
    registry: { instance: reg.registry, pollSecs: 0.5 },
    history: { intervalSecs: 2 },
    home: join(dir, 'monitor'),
    monitoring: { driftWindow: 150, driftReferenceSize: 300 },
  });
  const browser = await launchChromium();
  try {
    await photograph(server.url, reg.adminKey, browser);
  } finally {
    await browser.close();
    await server.close();
    reg.registry.close();
  }
  console.log(`wrote ${['overview', 'model', 'try-it', 'audit'].map((p) => `docs/images/dashboard-${p}.png`).join(', ')}`);
}

async function photograph(url: string, adminKey: string, browser: Browser): Promise<void> {
  console.log(`serving on ${url}; ${seconds} s of traffic…`);
  const headers = { authorization: `Bearer ${adminKey}` };
  const started = Date.now();
  let offset = 0;
  while (Date.now() - started < seconds * 1000) {
    const t = (Date.now() - started) / 1000;
    const rate = Math.round(25 + 15 * Math.sin(t / 15)); // requests this second, 10..40
    const drifting = t > seconds * 0.75;
    const tick = Date.now();
    await sendDigitsTraffic(url, { count: rate, offset, noise: drifting ? 6 : 0, feedbackShare: 0.4, wrongShare: drifting ? 0.15 : 0.03, badShare: 0.02, headers });
    offset += rate;
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
  }
  await new Promise((r) => setTimeout(r, 2500)); // one more history point

  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 })).newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  mkdirSync(out, { recursive: true });
  await page.goto(`${url}/#/settings`);
  await page.getByTestId('api-key').fill(adminKey);
  await page.getByTestId('save-settings').click();

  await page.locator('a.nav-link[href="#/"]').click();
  await page.getByTestId('model-card-digits').waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, 'dashboard-overview.png') });

  await page.locator('a[href="#/models/digits"]').first().click();
  await page.getByTestId('lineage-graph').waitFor();
  await page.getByTestId('drift-features').waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, 'dashboard-model.png'), fullPage: true });

  await page.locator('a.nav-link[href="#/try"]').click();
  await page.getByTestId('digit-canvas').waitFor();
  const split = testSplit();
  await drawDigit(page, Array.from(split.x.subarray(0, 64)));
  await page.getByTestId('predict-button').click();
  await page.getByTestId('agreement').waitFor({ timeout: 30000 });
  await page.screenshot({ path: join(out, 'dashboard-try-it.png') });

  // promote the canary from the UI, so the audit log has a change made with the API key
  await page.locator('a.nav-link[href="#/"]').click();
  await page.locator('a[href="#/models/digits"]').first().click();
  await page.getByTestId('promote-button').click();
  await page.getByTestId('confirm-button').click();
  await page.getByTestId('action-result').waitFor();

  await page.locator('a.nav-link[href="#/audit"]').click();
  await page.getByTestId('audit-table').waitFor();
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(out, 'dashboard-audit.png') });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
