/**
 * Drift of live traffic against the version's reference: the verdict, the share of drifted
 * features over the recent windows against its threshold, and each feature's test statistic
 * against its own threshold (docs/monitoring.md, "Drift").
 */
import { useState } from 'preact/hooks';
import type { DriftFeature, DriftReport } from '../../api/types';
import { TimeChart } from '../../components/time-chart';
import { COLORS } from '../../lib/colors';
import { fmtPercent, fmtStatistic } from '../../lib/format';

/** p-values drift when low; distances (wasserstein, jensenshannon) when high. */
function rule(f: DriftFeature): string {
  return f.score_type === 'p_value' ? `p ≤ ${f.threshold}` : `≥ ${f.threshold}`;
}

function FeatureTable({ features }: { features: DriftFeature[] }) {
  const [all, setAll] = useState(false);
  const sorted = [...features].sort((a, b) => Number(b.drifted) - Number(a.drifted) || (b.psi ?? 0) - (a.psi ?? 0));
  const shown = all ? sorted : sorted.slice(0, 12);
  return (
    <>
      <table class="table" data-testid="drift-features">
        <thead>
          <tr><th>feature</th><th>method</th><th>statistic</th><th>threshold</th><th>drifted</th><th>PSI</th><th>mean ref → now</th></tr>
        </thead>
        <tbody>
          {shown.map((f) => (
            <tr key={f.name} class={f.drifted ? 'row-bad' : ''}>
              <td>{f.name}</td>
              <td>{f.method}</td>
              <td>{fmtStatistic(f.statistic)}</td>
              <td>{rule(f)}</td>
              <td>{f.drifted ? 'yes' : 'no'}</td>
              <td>{f.psi !== undefined ? `${fmtStatistic(f.psi)} ${f.psi_band ?? ''}` : '—'}</td>
              <td>{f.reference_mean !== undefined && f.current_mean !== undefined ? `${f.reference_mean.toFixed(2)} → ${f.current_mean.toFixed(2)}` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {sorted.length > 12 && (
        <button type="button" class="link" onClick={() => setAll(!all)}>
          {all ? 'Show the first 12' : `Show all ${sorted.length} features`}
        </button>
      )}
    </>
  );
}

export function DriftPanel({ report, off, onVersion }: { report?: DriftReport; off?: string; onVersion?: (version: string) => void }) {
  const versions = report?.versions ?? [];
  return (
    <section class="panel" data-testid="drift-panel">
      <div class="panel-head">
        <h2>Drift</h2>
        {onVersion && versions.length > 1 && (
          <label class="inline">
            version{' '}
            <select value={report?.version} data-testid="drift-version" onChange={(e) => onVersion(e.currentTarget.value)}>
              {versions.map((v) => <option key={v} value={v}>v{v}</option>)}
            </select>
          </label>
        )}
      </div>
      {off ? <p class="muted">{off}</p> : !report ? <p class="muted">Loading…</p> : <DriftBody report={report} />}
    </section>
  );
}

function DriftBody({ report }: { report: DriftReport }) {
  if (report.status === 'no_traffic') return <p class="muted">No traffic seen yet: drift is measured on live requests against a reference profile.</p>;
  if (report.status === 'building_reference') {
    return (
      <p class="muted">
        Building the reference from the first live requests ({fmtPercent(report.reference?.progress ?? null, 0)}). Save one from training data instead with{' '}
        <code>berth monitor profile</code> or <code>berth push --reference-data</code>.
      </p>
    );
  }
  const threshold = report.drift_share_threshold ?? 0.5;
  const history = report.history ?? [];
  const t = history.map((h) => Date.parse(h.end) / 1000);
  return (
    <>
      <p class="muted">
        Version v{report.version}; reference: {report.reference?.source ?? '?'} ({report.reference?.samples ?? '?'} samples).{' '}
        {report.current_window ? `Current window: ${report.current_window.samples} of ${report.current_window.size} samples.` : ''}
      </p>
      {report.status === 'collecting' ? (
        <p class="muted">Reference ready; the first window has not closed yet.</p>
      ) : (
        <>
          <dl class="stats">
            <div><dt>dataset drift</dt><dd class={report.dataset_drift === null ? 'muted' : report.dataset_drift ? 'bad-text' : 'ok-text'} data-testid="dataset-drift">{report.dataset_drift === null ? 'no verdict yet' : report.dataset_drift ? 'yes' : 'no'}</dd></div>
            <div><dt>input features drifted</dt><dd>{report.n_drifted ?? '?'} of {report.n_features ?? '?'} ({fmtPercent(report.drifted_share, 0)}; drift at ≥ {fmtPercent(threshold, 0)})</dd></div>
            <div><dt>prediction drift</dt><dd>{report.prediction_drift ? `${report.prediction_drift.drifted ? 'yes' : 'no'} (${report.prediction_drift.n_drifted} of ${report.prediction_drift.n_features})` : '—'}</dd></div>
            <div><dt>windows in a row</dt><dd>{report.consecutive_drifted_windows ?? 0}</dd></div>
          </dl>
          {history.length > 0 && (
            <TimeChart
              title="Share of input features drifted, per window"
              t={t}
              windowSecs={null}
              yRange={[0, 1]}
              series={[
                { label: 'drifted share', values: history.map((h) => h.drifted_share), color: COLORS.drift, points: true },
                { label: `threshold ${fmtPercent(threshold, 0)}`, values: history.map(() => threshold), color: COLORS.threshold, dash: [6, 4] },
              ]}
              format={(v) => fmtPercent(v, 0)}
              unit="%"
              testId="chart-drift"
            />
          )}
          <FeatureTable features={report.features} />
        </>
      )}
    </>
  );
}
