/**
 * Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by playwright-core (no
 * browser download), headless, without a sandbox (containers), with background networking off
 * so the browser itself makes no request of its own.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserSkipReason(): string | undefined {
  if (!existsSync(CHROMIUM_PATH)) return `no Chromium at ${CHROMIUM_PATH} (Debian: apt-get install chromium; .ci/run installs it)`;
  return undefined;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-domain-reliability',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      '--metrics-recording-only',
    ],
  });
}

/**
 * Records what must not happen on a page: console errors, uncaught exceptions, requests that
 * failed, and HTTP answers of 400 or more (each is a console error in Chromium too).
 */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

/**
 * Pixels of a chart's canvas drawn in (about) the given colour: a chart whose series drew a line
 * has some; axes and grid lines are grey, so they do not count.
 */
export async function pixelsOfColor(page: Page, testId: string, hex: string): Promise<number> {
  return page.getByTestId(testId).locator('canvas').first().evaluate((canvas: HTMLCanvasElement, color: string) => {
    const r = parseInt(color.slice(1, 3), 16);
    const g = parseInt(color.slice(3, 5), 16);
    const b = parseInt(color.slice(5, 7), 16);
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! > 200 && Math.abs(data[i]! - r) < 40 && Math.abs(data[i + 1]! - g) < 40 && Math.abs(data[i + 2]! - b) < 40) n++;
    }
    return n;
  }, hex);
}

/** Pixels of a canvas that are not blank (any opaque pixel). */
export async function paintedPixels(page: Page, testId: string): Promise<number> {
  return page.getByTestId(testId).locator('canvas').first().evaluate((canvas: HTMLCanvasElement) => {
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
    return n;
  });
}

/**
 * Draws an 8×8 digit (a row of the UCI data, values 0..16) on the Try-it canvas with mouse
 * strokes, as a person would: a stroke joins the centres of every two neighbouring inked cells
 * (value ≥ 7), and a lone inked cell gets a dot.
 */
export async function drawDigit(page: Page, pixels: readonly number[]): Promise<void> {
  const canvas = page.getByTestId('digit-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  const cell = box.width / 8;
  const ink = (r: number, c: number): boolean => r >= 0 && r < 8 && c >= 0 && c < 8 && pixels[r * 8 + c]! >= 7;
  const centre = (r: number, c: number): [number, number] => [box.x + (c + 0.5) * cell, box.y + (r + 0.5) * cell];
  const stroke = async (from: [number, number], to: [number, number]): Promise<void> => {
    await page.mouse.move(...from);
    await page.mouse.down();
    await page.mouse.move(...to, { steps: 4 });
    await page.mouse.up();
  };
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 8; c++) {
      if (!ink(r, c)) continue;
      const neighbours: [number, number][] = [[r, c + 1], [r + 1, c], [r + 1, c + 1], [r + 1, c - 1]];
      const joined = neighbours.filter(([nr, nc]) => ink(nr, nc));
      for (const [nr, nc] of joined) await stroke(centre(r, c), centre(nr, nc));
      const touched = joined.length > 0 || ink(r, c - 1) || ink(r - 1, c) || ink(r - 1, c - 1) || ink(r - 1, c + 1);
      if (!touched) await stroke(centre(r, c), centre(r, c));
    }
  }
}

/** Waits until a chart has drawn at least `min` pixels of a colour (charts draw on the next frame). */
export async function waitForPixels(page: Page, testId: string, hex: string, min = 20, ms = 10000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const n = await pixelsOfColor(page, testId, hex);
    if (n >= min || Date.now() > end) return n;
    await page.waitForTimeout(100);
  }
}
