/**
 * The current rollout: production, canary and shadow with the traffic split, this server's
 * live counts per version, canary vs. production over the last 15 minutes, shadow agreement,
 * and the admin actions.
 */
import type { ModelHistory, RolloutState, RolloutStats } from '../../api/types';
import { TimeChart } from '../../components/time-chart';
import { COLORS, VERSION_PALETTE } from '../../lib/colors';
import { alignSeries } from '../../lib/align';
import { fmtMs, fmtPercent, fmtRate, fmtTime } from '../../lib/format';
import { AdminActions } from './admin-actions';

function TrafficSplit({ rollout, stats }: { rollout: RolloutState; stats?: RolloutStats }) {
  const canary = rollout.canary?.percent ?? 0;
  return (
    <div class="split" data-testid="traffic-split">
      <div class="split-bar">
        <div class="split-production" style={{ width: `${100 - canary}%` }}>production v{rollout.production ?? '?'} · {(100 - canary).toFixed(canary % 1 ? 1 : 0)}%</div>
        {canary > 0 && <div class="split-canary" style={{ width: `${canary}%` }}>{canary >= 12 ? `canary v${rollout.canary!.version} · ${canary}%` : `${canary}%`}</div>}
      </div>
      <p class="muted">
        {rollout.canary ? `Canary v${rollout.canary.version} gets ${rollout.canary.percent}% of unversioned requests` : 'No canary'}
        {stats?.canaryShare !== null && stats?.canaryShare !== undefined ? ` (measured here: ${fmtPercent(stats.canaryShare)})` : ''}
        {rollout.shadow ? `; shadow v${rollout.shadow.version} sees a copy of every request, its answers compared and thrown away` : ''}
        {rollout.updatedAt ? `. Changed ${fmtTime(rollout.updatedAt)}.` : '.'}
      </p>
    </div>
  );
}

function roleOf(version: string, rollout?: RolloutState): string {
  if (rollout?.production !== null && String(rollout?.production) === version) return 'production';
  if (rollout?.canary && String(rollout.canary.version) === version) return 'canary';
  if (rollout?.shadow && String(rollout.shadow.version) === version) return 'shadow';
  return '';
}

/** Per-version charts: production against the canary (and any other version with traffic). */
export function VersionComparison({ history, rollout }: { history?: ModelHistory; rollout?: RolloutState }) {
  const versions = (history?.versions ?? []).filter((v) => v.series.t.length > 0);
  if (versions.length === 0) return <p class="muted">No traffic figures yet: charts appear a few seconds after requests arrive.</p>;
  let spare = 0;
  const colorOf = (role: string): string => (role === 'production' ? COLORS.production : role === 'canary' ? COLORS.canary : role === 'shadow' ? COLORS.shadow : VERSION_PALETTE[spare++ % VERSION_PALETTE.length]!);
  const labelled = versions.map((v) => {
    const role = roleOf(v.version, rollout);
    return { v, role, color: colorOf(role), label: `v${v.version}${role ? ` ${role}` : ''}` };
  });
  const chart = (pick: (s: ModelHistory['series']) => readonly (number | null)[]) => alignSeries(labelled.map((l) => ({ t: l.v.series.t, values: pick(l.v.series) })));
  const rps = chart((s) => s.rps);
  const p99 = chart((s) => s.p99_ms);
  const errors = chart((s) => s.error_rate);
  const series = (values: (number | null)[][]) => labelled.map((l, i) => ({ label: l.label, color: l.color, values: values[i]! }));
  return (
    <div class="chart-row" data-testid="version-comparison">
      <TimeChart title="Requests per second, by version" t={rps.t} series={series(rps.values)} format={fmtRate} testId="chart-version-rps" />
      <TimeChart title="p99 latency, by version" t={p99.t} series={series(p99.values)} format={fmtMs} unit="ms" testId="chart-version-p99" />
      <TimeChart title="Error rate, by version" t={errors.t} series={series(errors.values)} format={(v) => fmtPercent(v, 1)} unit="%" yRange={[0, 1]} testId="chart-version-errors" />
    </div>
  );
}

function LiveCounts({ stats, rollout }: { stats: RolloutStats; rollout: RolloutState }) {
  const rows = Object.entries(stats.requests).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (!stats.served) return <p class="muted">This server does not serve the model right now.</p>;
  return (
    <table class="table" data-testid="live-counts">
      <thead>
        <tr><th>version</th><th>role</th><th>answered</th><th>failed</th><th>error rate</th></tr>
      </thead>
      <tbody>
        {rows.length === 0 && <tr><td colSpan={5} class="muted">No requests since the policy changed{stats.since ? ` (${fmtTime(stats.since)})` : ''}.</td></tr>}
        {rows.map(([v, c]) => (
          <tr key={v}>
            <td>v{v}</td>
            <td>{roleOf(v, rollout) || '—'}</td>
            <td>{c.success.toLocaleString('en')}</td>
            <td>{c.failure.toLocaleString('en')}</td>
            <td>{fmtPercent(c.success + c.failure ? c.failure / (c.success + c.failure) : null, 2)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ShadowAgreement({ shadow }: { shadow: NonNullable<RolloutStats['shadow']> }) {
  const l = shadow.latencyMs;
  return (
    <div class="shadow" data-testid="shadow-agreement">
      <h3>Shadow v{shadow.version}</h3>
      <dl class="stats">
        <div><dt>agreement</dt><dd>{fmtPercent(shadow.agreement, 2)}</dd></div>
        <div><dt>mirrored</dt><dd>{shadow.mirrored.toLocaleString('en')}</dd></div>
        <div><dt>agreed</dt><dd>{shadow.agreed.toLocaleString('en')}</dd></div>
        <div><dt>max |diff|</dt><dd>{shadow.maxAbsDiff.toPrecision(3)}</dd></div>
        <div><dt>skipped / failed</dt><dd>{shadow.skipped} / {shadow.failed}</dd></div>
        <div><dt>p50 prod / shadow</dt><dd>{fmtMs(l.primary.p50)} / {fmtMs(l.shadow.p50)}</dd></div>
        <div><dt>p99 prod / shadow</dt><dd>{fmtMs(l.primary.p99)} / {fmtMs(l.shadow.p99)}</dd></div>
      </dl>
      <p class="muted">Agreement: the top-1 class of every row matches (or all outputs are close, for models without classes). See docs/rollouts.md.</p>
    </div>
  );
}

export function RolloutPanel({ model, rollout, stats, history, onChange }: { model: string; rollout: RolloutState; stats?: RolloutStats; history?: ModelHistory; onChange: () => void }) {
  return (
    <section class="panel" data-testid="rollout-panel">
      <h2>Rollout</h2>
      <TrafficSplit rollout={rollout} stats={stats} />
      <AdminActions model={model} rollout={rollout} onDone={onChange} />
      <h3>Canary vs. production (last 15 minutes)</h3>
      <VersionComparison history={history} rollout={rollout} />
      {stats && <LiveCounts stats={stats} rollout={rollout} />}
      {stats?.shadow ? <ShadowAgreement shadow={stats.shadow} /> : rollout.shadow ? <p class="muted">The shadow has not seen a request yet.</p> : null}
    </section>
  );
}
