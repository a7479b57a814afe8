/**
 * Accuracy from delayed ground truth (POST /api/v1/models/{m}/feedback): the rolling figure per
 * version and its minute buckets over time.
 */
import type { AccuracyReport } from '../../api/types';
import { TimeChart } from '../../components/time-chart';
import { alignSeries } from '../../lib/align';
import { COLORS, VERSION_PALETTE } from '../../lib/colors';
import { fmtPercent } from '../../lib/format';

export function AccuracyPanel({ report, off }: { report?: AccuracyReport; off?: string }) {
  const versions = report?.versions ?? [];
  const aligned = alignSeries(versions.map((v) => ({ t: v.buckets.map((b) => Date.parse(b.start) / 1000), values: v.buckets.map((b) => b.accuracy) })));
  return (
    <section class="panel" data-testid="accuracy-panel">
      <h2>Accuracy from feedback</h2>
      {off ? (
        <p class="muted">{off}</p>
      ) : versions.length === 0 ? (
        <p class="muted">
          No labelled predictions yet. Post the truth when it arrives: <code>POST /api/v1/models/NAME/feedback</code> with{' '}
          <code>{'{"id": "<request id>", "label": 4}'}</code> (see docs/monitoring.md).
        </p>
      ) : (
        <>
          <dl class="stats">
            {versions.map((v) => (
              <div key={v.version}>
                <dt>v{v.version} rolling ({v.rolling.labelled} labelled)</dt>
                <dd data-testid={`accuracy-v${v.version}`}>{fmtPercent(v.rolling.accuracy)}</dd>
              </div>
            ))}
          </dl>
          <TimeChart
            title="Accuracy per minute, by version"
            t={aligned.t}
            windowSecs={null}
            yRange={[0, 1]}
            series={versions.map((v, i) => ({ label: `v${v.version}`, values: aligned.values[i]!, color: i === 0 ? COLORS.accuracy : VERSION_PALETTE[i % VERSION_PALETTE.length]!, points: true }))}
            format={(v) => fmtPercent(v, 0)}
            unit="%"
            testId="chart-accuracy"
          />
        </>
      )}
    </section>
  );
}
