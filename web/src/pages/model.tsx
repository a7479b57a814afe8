/**
 * One model: its versions with their lineage and aliases, the current rollout (traffic split,
 * canary vs. production, shadow agreement, promote / rollback), drift and accuracy.
 * Reads /v2/models, /api/v1/metrics/history, the admin API (models, versions, rollout, stats)
 * when the server has the registry, and the monitoring API (drift, accuracy) when it has it.
 */
import { useState } from 'preact/hooks';
import { getJson, isProblem } from '../api/client';
import type { AccuracyReport, DriftReport, ModelRecord, RolloutState, RolloutStats, VersionRecord, VersionStatus } from '../api/types';
import { Empty, Loading, Problem } from '../components/states';
import { useHistory } from '../hooks/use-history';
import { usePoll } from '../hooks/use-poll';
import { hasRegistry, useServer } from '../hooks/use-server';
import { href } from '../router';
import { AccuracyPanel } from './model/accuracy-panel';
import { DriftPanel } from './model/drift-panel';
import { RolloutPanel, VersionComparison } from './model/rollout-panel';
import { RegistryVersions, ServedVersions } from './model/versions-panel';

interface RegistryView {
  record: ModelRecord;
  versions: VersionRecord[];
  rollout: RolloutState;
  stats: RolloutStats;
}

export function ModelPage({ model }: { model: string }) {
  const server = useServer();
  const known = server.status !== 'loading';
  // An older berth (unknown) is simply asked; a 404 then says there is no registry.
  // Without a (valid) key the server has already said no: its registry and monitoring are not asked.
  const locked = server.status === 'unauthorised';
  const registry = known && !locked ? hasRegistry(server) ?? (server.status === 'unknown' ? true : undefined) : undefined;
  const info = server.status === 'ok' ? server.info : undefined;
  const m = encodeURIComponent(model);

  const statuses = usePoll(() => getJson<{ models: VersionStatus[] }>('/v2/models'), [], 5000);
  const history = useHistory(model);
  const reg = usePoll(async (): Promise<RegistryView | undefined> => {
    if (!registry) return undefined;
    const [record, versions, rollout, stats] = await Promise.all([
      getJson<ModelRecord>(`/api/v1/models/${m}`),
      getJson<{ versions: VersionRecord[] }>(`/api/v1/models/${m}/versions`),
      getJson<RolloutState>(`/api/v1/models/${m}/rollout`),
      getJson<RolloutStats>(`/api/v1/models/${m}/rollout/stats`),
    ]);
    return { record, versions: versions.versions, rollout, stats };
  }, [model, registry], 5000);
  const monitoring = info ? info.monitoring : server.status === 'unknown';
  // Drift of the version a person picked, else of production (the server's default is the
  // highest version with figures, which during a rollout is usually the canary).
  const [driftVersion, setDriftVersion] = useState<string | undefined>(undefined);
  const production = reg.data?.rollout.production ?? undefined;
  const drift = usePoll(async () => {
    if (!monitoring || !(info?.drift ?? true)) return undefined;
    const base = `/api/v1/models/${m}/drift`;
    const first = await getJson<DriftReport>(driftVersion ? `${base}?version=${encodeURIComponent(driftVersion)}` : base);
    const wanted = production === undefined ? undefined : String(production);
    if (driftVersion || wanted === undefined || first.version === wanted || !first.versions.includes(wanted)) return first;
    return getJson<DriftReport>(`${base}?version=${wanted}`);
  }, [model, monitoring, driftVersion, production], 10000);
  const accuracy = usePoll(async () => (monitoring ? getJson<AccuracyReport>(`/api/v1/models/${m}/accuracy`) : undefined), [model, monitoring], 10000);

  if (statuses.loading || !known) return <Loading what={`model ${model}`} />;
  if (statuses.error && !statuses.data) return <Problem error={statuses.error} what="the served models" />;
  const mine = (statuses.data?.models ?? []).filter((s) => s.name === model);
  const ready = mine.some((s) => s.state === 'READY');
  const registryAbsent = registry === false || (reg.error !== undefined && isProblem(reg.error, 'not-found') && server.status === 'unknown');
  const modelHistory = history.snapshot?.models.find((h) => h.model === model);

  if (mine.length === 0 && (registry === false || (reg.error && isProblem(reg.error, 'not-found')))) {
    return (
      <Empty title={`No model named ${model}`}>
        This server neither serves nor registers it. See the <a href={href({ page: 'overview' })}>overview</a> for the models it has.
      </Empty>
    );
  }

  return (
    <section>
      <div class="page-head">
        <h1>{model}</h1>
        <span class={`badge ${ready ? 'ok' : 'bad'}`} data-testid="model-ready">{mine.length === 0 ? 'not served here' : ready ? 'ready' : 'not ready'}</span>
        {reg.data?.record.description && <span class="muted">{reg.data.record.description}</span>}
        <a class="card-action" href={href({ page: 'try', model })}>Try it →</a>
      </div>

      {locked && <Problem error={server.error} what="the registry's view of this model" />}
      {reg.error && !isProblem(reg.error, 'not-found') && <Problem error={reg.error} what="the registry's view of this model" />}
      {reg.data ? (
        <RegistryVersions record={reg.data.record} versions={reg.data.versions} rollout={reg.data.rollout} statuses={mine} />
      ) : reg.error && isProblem(reg.error, 'not-found') && !registryAbsent ? (
        <>
          <Empty title={`${model} is not in the registry`}>It is served from a file or repository; versions and rollouts are the registry's.</Empty>
          <ServedVersions statuses={mine} registryAbsent={false} />
        </>
      ) : (
        <ServedVersions statuses={mine} registryAbsent={registryAbsent} />
      )}

      {reg.data ? (
        <RolloutPanel model={model} rollout={reg.data.rollout} stats={reg.data.stats} history={modelHistory} onChange={reg.refresh} />
      ) : (
        <section class="panel">
          <h2>Traffic by version (last 15 minutes)</h2>
          {history.error ? <Problem error={history.error} what="the metrics history" /> : <VersionComparison history={modelHistory} />}
        </section>
      )}

      {drift.error && !isProblem(drift.error, 'not-found') ? (
        <section class="panel"><h2>Drift</h2><Problem error={drift.error} what="drift" /></section>
      ) : (
        <DriftPanel
          report={drift.data}
          onVersion={setDriftVersion}
          off={locked ? 'Needs an API key (Settings).' : !monitoring ? 'Monitoring is off on this server.' : info && !info.drift ? 'Drift monitoring is off (berth serve --drift-window 0).' : drift.error ? drift.error.problem.kind === 'not-found' ? 'No drift figures for this model.' : undefined : undefined}
        />
      )}
      {accuracy.error && !isProblem(accuracy.error, 'not-found') ? (
        <section class="panel"><h2>Accuracy from feedback</h2><Problem error={accuracy.error} what="accuracy" /></section>
      ) : (
        <AccuracyPanel report={accuracy.data} off={locked ? 'Needs an API key (Settings).' : !monitoring ? 'Monitoring is off on this server.' : undefined} />
      )}
    </section>
  );
}
