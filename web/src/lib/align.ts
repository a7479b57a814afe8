/**
 * Puts several series with their own time stamps on one time axis (what a chart of several
 * versions needs): the union of the times, each series null where it has no point.
 */
export function alignSeries(series: readonly { t: readonly number[]; values: readonly (number | null)[] }[]): { t: number[]; values: (number | null)[][] } {
  const times = [...new Set(series.flatMap((s) => s.t))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = series.map((s) => {
    const out: (number | null)[] = new Array(times.length).fill(null);
    s.t.forEach((t, i) => (out[index.get(t)!] = s.values[i] ?? null));
    return out;
  });
  return { t: times, values };
}
