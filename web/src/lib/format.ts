/** Number and time formatting shared by the pages. */

export function fmtRate(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return '—';
  if (rps === 0) return '0';
  if (rps < 1) return rps.toFixed(2);
  if (rps < 100) return rps.toFixed(1);
  return Math.round(rps).toLocaleString('en');
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

export function fmtPercent(share: number | null | undefined, digits = 1): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—';
  return `${(share * 100).toFixed(digits)}%`;
}

export function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A p-value is shown in scientific notation once it is tiny; a distance with 3 decimals. */
export function fmtStatistic(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(1);
  return value.toFixed(3);
}

/** The mean of the finite values among the last `n`, or null. */
export function meanOfLast(values: readonly (number | null)[], n: number): number | null {
  const tail = values.slice(-n).filter((v): v is number => v !== null && Number.isFinite(v));
  return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null;
}

/** The last finite value, or null. */
export function lastValue(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
}

/**
 * The share over the last `n` points weighted by each point's request count (an interval with
 * 300 requests counts more than one with 3), or null when there were no requests.
 */
export function weightedShareOfLast(shares: readonly (number | null)[], weights: readonly number[], n: number): number | null {
  let sum = 0;
  let total = 0;
  const from = Math.max(0, shares.length - n);
  for (let i = from; i < shares.length; i++) {
    const share = shares[i];
    const w = weights[i] ?? 0;
    if (share === null || share === undefined || !(w > 0)) continue;
    sum += share * w;
    total += w;
  }
  return total > 0 ? sum / total : null;
}
