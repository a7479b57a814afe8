/**
 * The dashboard in a real browser against a server without a registry (what `npm start` runs):
 * every page loads without a console error or a failed request, charts draw, a digit drawn on
 * the Try-it canvas gets the right class from the server and from onnxruntime-web in the page,
 * and the empty and error states say what to do. One Chromium for the whole file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { dashboardDir } from '../../src/http/dashboard-routes.js';
import { ensureDigitsModel, testSplit } from '../../src/examples/digits/index.js';
import { tempDir } from '../helpers/models.js';
import { browserSkipReason, drawDigit, launchChromium, waitForPixels, watch } from './browser.js';
import { sendDigitsTraffic } from './traffic.js';

const skip = browserSkipReason() ?? (dashboardDir() ? false : 'dist/web is not built: run npm run build');
const BLUE = '#2563eb';
const GREEN = '#059669';
const PURPLE = '#7c3aed';
const RED = '#dc2626';

describe('dashboard in Chromium: a server without a registry', { skip }, () => {
  let server: RunningServer;
  let empty: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  before(async () => {
    const dir = tempDir('berth-dashboard-pages-');
    await ensureDigitsModel(dir);
    [server, empty, browser] = await Promise.all([
      startServer({ paths: [join(dir, 'digits')], http: { port: 0 }, grpc: { enabled: false }, history: { intervalSecs: 0.5 }, home: join(dir, 'home'), monitoring: { driftWindow: 60, driftReferenceSize: 120 } }),
      startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } }),
      launchChromium(),
    ]);
    // traffic over a few history intervals, drifted at the end, with some ground truth
    for (let round = 0; round < 3; round++) {
      await sendDigitsTraffic(server.url, { count: 80, offset: round * 80, feedbackShare: 0.5, wrongShare: 0.05, badShare: 0.1 });
      await server.history!.sample();
    }
    await sendDigitsTraffic(server.url, { count: 70, offset: 240, noise: 6 });
    await server.history!.sample();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = watch(page);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([server?.close(), empty?.close()]);
  });

  test('Overview: the model is ready, its figures are shown and its three charts draw', async () => {
    await page.goto(`${server.url}/`);
    const card = page.getByTestId('model-card-digits');
    await card.waitFor();
    assert.equal(await card.getByTestId('ready-state').textContent(), 'ready');
    assert.notEqual(await card.getByTestId('rps').textContent(), '—');
    await page.getByTestId('history-source').filter({ hasNotText: /loading/ }).waitFor(); // the history request answered
    assert.match((await page.getByTestId('history-source').textContent()) ?? '', /from the server/);
    assert.ok(await waitForPixels(page, 'chart-rps', BLUE, 20) >= 20, 'the req/s line is drawn');
    assert.ok(await waitForPixels(page, 'chart-latency', PURPLE, 20) >= 20, 'the p99 line is drawn');
    assert.ok(await waitForPixels(page, 'chart-errors', RED, 5) >= 5, 'the error-rate line is drawn');
    assert.deepEqual(problems, []);
  });

  test('Model: no-registry notice, traffic by version, drift with thresholds and accuracy, charted', async () => {
    await page.locator('a[href="#/models/digits"]').first().click();
    await page.getByTestId('versions-panel').waitFor();
    await page.locator('[data-state="no-registry"]').waitFor();
    assert.match((await page.locator('[data-state="no-registry"]').textContent()) ?? '', /berth serve --registry/);
    await page.getByTestId('chart-version-rps').waitFor();
    assert.ok(await waitForPixels(page, 'chart-version-rps', '#0891b2', 20) >= 20, 'v1 req/s is drawn');
    await page.getByTestId('drift-features').waitFor();
    assert.match((await page.getByTestId('drift-features').textContent()) ?? '', /pixels\[\d+\].*p ≤ 0\.05/);
    assert.ok(await waitForPixels(page, 'chart-drift', RED, 5) >= 5, 'the drifted share is drawn');
    await page.getByTestId('chart-accuracy').waitFor();
    assert.match((await page.getByTestId('accuracy-v1').textContent()) ?? '', /%$/);
    assert.ok(await waitForPixels(page, 'chart-accuracy', GREEN, 5) >= 5, 'accuracy is drawn');
    assert.deepEqual(problems, []);
  });

  test('Try it: a drawn digit gets the right class from the server and from onnxruntime-web in the page', async () => {
    await page.locator('a.nav-link[href="#/try"]').click();
    await page.getByTestId('digit-canvas').waitFor();
    const split = testSplit();
    // two held-out digits of different classes (rows 0 and 7: a 4 and a 0), drawn as strokes
    for (const row of [0, 7]) {
      const pixels = Array.from(split.x.subarray(row * 64, row * 64 + 64));
      await page.getByTestId('clear-canvas').click();
      await drawDigit(page, pixels);
      const seen = (await page.getByTestId('pixel-grid').getAttribute('data-values'))!.split(',').map(Number);
      assert.ok(seen.filter((v) => v > 0).length >= 12, 'the drawing became an 8×8 input');
      await page.getByTestId('predict-button').click();
      await page.getByTestId('agreement').waitFor({ timeout: 30000 });
      const expected = String(split.y[row]);
      assert.equal(await page.getByTestId('server-answer').textContent(), expected, `row ${row}: server`);
      assert.equal(await page.getByTestId('browser-answer').textContent(), expected, `row ${row}: browser`);
      assert.match((await page.getByTestId('server-ms').textContent()) ?? '', /ms$/);
      assert.match((await page.getByTestId('browser-ms').textContent()) ?? '', /ms$/);
    }
    assert.deepEqual(problems, []);
  });

  test('Audit: says the audit log needs the registry', async () => {
    await page.locator('a.nav-link[href="#/audit"]').click();
    await page.locator('[data-state="no-registry"]').waitFor();
    assert.match((await page.locator('main').textContent()) ?? '', /berth serve --registry/);
    assert.deepEqual(problems, []);
  });

  test('Empty and error states: no models, and a server that cannot be reached', async () => {
    const other = await context.newPage();
    const otherProblems = watch(other);
    await other.goto(`${empty.url}/`);
    await other.locator('[data-state="empty"]').waitFor();
    assert.match((await other.locator('[data-state="empty"]').textContent()) ?? '', /No models are being served.*npx berth serve/s);
    await other.locator('a.nav-link[href="#/try"]').click();
    await other.getByText('No models to try').waitFor();
    assert.deepEqual(otherProblems, []);

    // point the dashboard at a port nothing listens on (the closed empty server's)
    const deadUrl = empty.url;
    await empty.close();
    await other.evaluate(() => sessionStorage.clear());
    await other.goto(`${server.url}/#/settings`);
    await other.getByTestId('base-url').fill(deadUrl);
    await other.getByTestId('save-settings').click();
    await other.locator('a.nav-link[href="#/"]').click();
    const alert = other.locator('[data-state="unreachable"]');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    assert.match(text, /Cannot reach berth at/);
    assert.ok(text.includes(`${deadUrl}/v2/models`), `the message names the URL tried: ${text}`);
    await other.evaluate(() => localStorage.clear());
    await other.close();
  });
});
