/**
 * The dashboard in a real browser against `serve --registry` with a canary rollout: versions
 * and lineage, the traffic split and canary vs. production charts, promote and rollback from
 * the UI with an admin key (checked through the admin API), the audit log and its filters, and
 * the not-authorised state. One Chromium for the whole file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { dashboardDir } from '../../src/http/dashboard-routes.js';
import { tempDir } from '../helpers/models.js';
import { browserSkipReason, launchChromium, waitForPixels, watch } from './browser.js';
import { digitsRegistry } from './scenario.js';
import type { DigitsRegistry } from './scenario.js';
import { sendDigitsTraffic } from './traffic.js';

const skip = browserSkipReason() ?? (dashboardDir() ? false : 'dist/web is not built: run npm run build');
const PRODUCTION = '#2563eb';
const CANARY = '#d97706';

describe('dashboard in Chromium: serve --registry with a canary', { skip }, () => {
  let reg: DigitsRegistry;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  const production = async (): Promise<number | undefined> => {
    const res = await fetch(`${server.url}/api/v1/models/digits`, { headers: { authorization: `Bearer ${reg.readKey}` } });
    return ((await res.json()) as { aliases: Record<string, number> }).aliases.production;
  };

  before(async () => {
    const dir = tempDir('berth-dashboard-registry-');
    reg = await digitsRegistry(dir, { canaryPercent: 30 });
    [server, browser] = await Promise.all([
      startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, registry: { instance: reg.registry, pollSecs: 0.2 }, history: { intervalSecs: 0.5 }, home: join(dir, 'monitor-home'), monitoring: {} }),
      launchChromium(),
    ]);
    for (let round = 0; round < 3; round++) {
      await sendDigitsTraffic(server.url, { count: 100, offset: round * 100 });
      await server.history!.sample();
    }
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    problems = watch(page);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    reg?.registry.close();
  });

  test('Settings: the admin key is entered once and kept for the tab', async () => {
    await page.goto(`${server.url}/#/settings`);
    await page.getByTestId('api-key').fill(reg.adminKey);
    await page.getByTestId('save-settings').click();
    await page.getByTestId('settings-saved').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('berth.apiKey')), reg.adminKey);
    assert.deepEqual(problems, []);
  });

  test('Overview: the model and its charts, read with the key', async () => {
    await page.locator('a.nav-link[href="#/"]').click();
    await page.getByTestId('model-card-digits').waitFor();
    await page.getByTestId('history-source').filter({ hasNotText: /loading/ }).waitFor(); // the history request answered
    assert.match((await page.getByTestId('history-source').textContent()) ?? '', /from the server/);
    assert.ok(await waitForPixels(page, 'chart-rps', PRODUCTION) >= 20, 'the req/s line is drawn');
    // the model's latency adds up its versions' histograms
    assert.ok(await waitForPixels(page, 'chart-latency', '#7c3aed') >= 20, 'the p99 line is drawn');
    // the catalog state applied (GET /api/v1/server's convergence)
    await page.getByTestId('convergence').filter({ hasText: /catalog change \d+ applied/ }).waitFor();
    assert.deepEqual(problems, []);
  });

  test('Model: lineage, aliases, the traffic split and canary vs. production', async () => {
    await page.locator('a[href="#/models/digits"]').first().click();
    const graph = page.getByTestId('lineage-graph');
    await graph.waitFor();
    assert.deepEqual(await graph.locator('g[data-version]').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-version'))), ['v1', 'v2']);
    assert.match((await graph.textContent()) ?? '', /retrain: 48 hidden units/);
    assert.equal(await page.getByTestId('alias-production').textContent(), 'production → v1');
    assert.match((await page.getByTestId('traffic-split').textContent()) ?? '', /canary v2 · 30%/);
    const productionPixels = await waitForPixels(page, 'chart-version-rps', PRODUCTION);
    const canaryPixels = await waitForPixels(page, 'chart-version-rps', CANARY);
    const drawn = `production ${productionPixels} px, canary ${canaryPixels} px; legend: ${await page.getByTestId('chart-version-rps').locator('.u-legend').textContent()}`;
    assert.ok(productionPixels >= 20, `production is drawn (${drawn})`);
    assert.ok(canaryPixels >= 20, `the canary is drawn (${drawn})`);
    assert.match((await page.getByTestId('live-counts').textContent()) ?? '', /v2canary/);
    assert.deepEqual(problems, []);
  });

  test('Promote from the UI moves production to the canary; rollback moves it back', async () => {
    await page.getByTestId('promote-button').click();
    await page.getByTestId('confirm-button').click();
    await page.getByText('production → v2').first().waitFor();
    assert.equal(await production(), 2);
    await page.getByTestId('alias-production').getByText('production → v2').waitFor();

    await page.getByTestId('rollback-button').click();
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('action-result').getByText('production → v1').waitFor();
    assert.equal(await production(), 1);
    assert.deepEqual(problems, []);
  });

  test('Audit: the changes with who made them, filterable', async () => {
    await page.locator('a.nav-link[href="#/audit"]').click();
    const table = page.getByTestId('audit-table');
    await table.waitFor();
    await table.locator('tr[data-action="rollout.rollback"]').waitFor();
    const actions = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    assert.deepEqual(actions.slice(0, 2), ['rollout.rollback', 'rollout.promote']);
    assert.match((await table.locator('tr[data-action="rollout.promote"]').textContent()) ?? '', /api-key:/);
    await page.getByTestId('audit-action').selectOption('version.create');
    assert.deepEqual(await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action'))), ['version.create', 'version.create']);
    assert.deepEqual(problems, []);
  });

  test('Without a key: says it is not authorised and what to do', async () => {
    const other = await (await browser.newContext()).newPage();
    await other.goto(`${server.url}/#/models/digits`);
    const alert = other.locator('[data-state="unauthorised"]').first();
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /Not authorised — enter an admin key.*Settings/s);
    // the overview still has its figures: sampled from the public /metrics instead
    await other.locator('a.nav-link[href="#/"]').click();
    await other.getByTestId('model-card-digits').waitFor();
    // the card can render before the history request has been answered
    const source = other.getByTestId('history-source');
    await source.filter({ hasNotText: /loading/ }).waitFor();
    assert.match((await source.textContent()) ?? '', /needs a read key/);
    await other.context().close();
  });
});
