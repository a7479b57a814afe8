/**
 * Overview: every model the server serves, whether it is ready, its request rate, latency and
 * error rate now, and charts of the last 15 minutes.
 * Reads GET /v2/models and GET /api/v1/metrics/history (or samples GET /metrics).
 */
import { getJson } from '../api/client';
import type { ModelHistory, VersionStatus } from '../api/types';
import { TimeChart } from '../components/time-chart';
import { ConvergenceBadge } from '../components/convergence';
import { Empty, Loading, Problem } from '../components/states';
import { useHistory } from '../hooks/use-history';
import { usePoll } from '../hooks/use-poll';
import { COLORS } from '../lib/colors';
import { fmtMs, fmtPercent, fmtRate, lastValue, meanOfLast, weightedShareOfLast } from '../lib/format';
import { href } from '../router';

/** Points in the last minute at the history's interval (12 at 5 s). */
function lastMinute(intervalSecs: number): number {
  return Math.max(1, Math.round(60 / intervalSecs));
}

function ModelCard({ name, statuses, history, intervalSecs }: { name: string; statuses: VersionStatus[]; history?: ModelHistory; intervalSecs: number }) {
  const ready = statuses.some((s) => s.state === 'READY');
  const s = history?.series;
  const n = lastMinute(intervalSecs);
  const rps = s ? meanOfLast(s.rps, n) : null;
  const errors = s ? weightedShareOfLast(s.error_rate, s.rps, n) : null;
  const p50 = s ? lastValue(s.p50_ms) : null;
  const p99 = s ? lastValue(s.p99_ms) : null;
  const notReady = statuses.filter((v) => v.state !== 'READY');
  return (
    <article class="card model-card" data-testid={`model-card-${name}`}>
      <header class="card-head">
        <h2>
          <a href={href({ page: 'model', model: name })}>{name}</a>
        </h2>
        <span class={`badge ${ready ? 'ok' : 'bad'}`} data-testid="ready-state">{ready ? 'ready' : 'not ready'}</span>
        <span class="muted">
          {statuses.filter((v) => v.version).map((v) => `v${v.version} ${v.state.toLowerCase()}`).join(', ') || 'no version loaded'}
        </span>
        <a class="card-action" href={href({ page: 'try', model: name })}>Try it →</a>
      </header>
      {notReady.length > 0 && notReady.some((v) => v.reason) && (
        <p class="reason">{notReady.filter((v) => v.reason).map((v) => `${v.version ? `v${v.version}: ` : ''}${v.reason}`).join('; ')}</p>
      )}
      <dl class="stats">
        <div><dt>req/s (1 min)</dt><dd data-testid="rps">{fmtRate(rps)}</dd></div>
        <div><dt>p50</dt><dd>{fmtMs(p50)}</dd></div>
        <div><dt>p99</dt><dd>{fmtMs(p99)}</dd></div>
        <div><dt>errors (1 min)</dt><dd class={errors && errors > 0.01 ? 'bad-text' : ''}>{fmtPercent(errors, 2)}</dd></div>
      </dl>
      <div class="chart-row">
        <TimeChart title="Requests per second" t={s?.t ?? []} series={[{ label: 'req/s', values: s?.rps ?? [], color: COLORS.throughput }]} format={(v) => fmtRate(v)} testId="chart-rps" />
        <TimeChart
          title="Latency (successful requests)"
          t={s?.t ?? []}
          series={[
            { label: 'p50', values: s?.p50_ms ?? [], color: COLORS.p50 },
            { label: 'p99', values: s?.p99_ms ?? [], color: COLORS.p99 },
          ]}
          format={(v) => fmtMs(v)} unit="ms"
          testId="chart-latency"
        />
        <TimeChart title="Error rate" t={s?.t ?? []} series={[{ label: 'errors', values: s?.error_rate ?? [], color: COLORS.errors }]} format={(v) => fmtPercent(v, 1)} unit="%" yRange={[0, 1]} testId="chart-errors" />
      </div>
    </article>
  );
}

export function OverviewPage() {
  const models = usePoll(() => getJson<{ models: VersionStatus[] }>('/v2/models'), [], 5000);
  const history = useHistory();
  if (models.loading) return <Loading what="models" />;
  if (models.error && !models.data) return <Problem error={models.error} what="the models" />;
  const statuses = models.data?.models ?? [];
  const names = [...new Set(statuses.map((s) => s.name))].sort();
  const interval = history.snapshot?.interval_secs ?? 5;
  return (
    <section>
      <div class="page-head">
        <h1>Overview</h1>
        <ConvergenceBadge />
        <span class="muted" data-testid="history-source">
          {history.source === 'server' ? 'last 15 minutes, from the server' : history.source === 'browser' ? history.fallbackReason : 'loading the last 15 minutes…'}
        </span>
      </div>
      {models.error && <Problem error={models.error} what="the models" />}
      {history.error && <Problem error={history.error} what="the metrics history" />}
      {names.length === 0 ? (
        <Empty title="No models are being served">
          Start berth with a model: <code>npx berth serve model.onnx</code>, a repository (<code>npx berth serve models/</code>), the bundled example
          (<code>npx berth serve --example</code>), or the registry (<code>berth serve --registry</code> serves every model with a{' '}
          <code>production</code> alias).
        </Empty>
      ) : (
        names.map((name) => (
          <ModelCard key={name} name={name} statuses={statuses.filter((s) => s.name === name)} history={history.snapshot?.models.find((m) => m.model === name)} intervalSecs={interval} />
        ))
      )}
    </section>
  );
}
