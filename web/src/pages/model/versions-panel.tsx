/**
 * A model's versions: with the registry, every registered version with its lineage (graph),
 * aliases, metrics and whether this server has it loaded; without it, the versions served.
 */
import type { RolloutState, VersionRecord, VersionStatus, ModelRecord } from '../../api/types';
import { LineageGraph } from '../../components/lineage-graph';
import { RegistryAbsent } from '../../components/states';
import { fmtBytes, fmtTime } from '../../lib/format';

export function ServedVersions({ statuses, registryAbsent }: { statuses: VersionStatus[]; registryAbsent: boolean }) {
  return (
    <section class="panel" data-testid="versions-panel">
      <h2>Versions</h2>
      {registryAbsent && <RegistryAbsent what="Registered versions, their lineage and aliases" />}
      <table class="table">
        <thead>
          <tr><th>version</th><th>state on this server</th><th>reason</th></tr>
        </thead>
        <tbody>
          {statuses.filter((s) => s.version).map((s) => (
            <tr key={s.version}>
              <td>v{s.version}</td>
              <td><span class={`badge ${s.state === 'READY' ? 'ok' : 'warn'}`}>{s.state.toLowerCase()}</span></td>
              <td class="muted">{s.reason || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function RegistryVersions({ record, versions, rollout, statuses }: { record: ModelRecord; versions: VersionRecord[]; rollout?: RolloutState; statuses: VersionStatus[] }) {
  const served = new Map(statuses.map((s) => [s.version, s.state]));
  const aliasesOf = (v: number): string[] => Object.entries(record.aliases).filter(([, n]) => n === v).map(([a]) => a);
  return (
    <section class="panel" data-testid="versions-panel">
      <h2>Versions and lineage</h2>
      <div class="aliases" data-testid="aliases">
        {Object.keys(record.aliases).length === 0 ? (
          <span class="muted">No aliases yet: <code>berth alias {record.name} production 1</code> serves version 1.</span>
        ) : (
          Object.entries(record.aliases).sort().map(([alias, v]) => (
            <span key={alias} class={`chip ${alias === 'production' ? 'chip-production' : ''}`} data-testid={`alias-${alias}`}>
              {alias} → v{v}
            </span>
          ))
        )}
      </div>
      <div class="lineage-wrap">
        <LineageGraph model={record.name} versions={versions} aliases={record.aliases} rollout={rollout} />
      </div>
      <table class="table">
        <thead>
          <tr><th>version</th><th>aliases</th><th>derived from</th><th>metrics</th><th>size</th><th>created</th><th>on this server</th></tr>
        </thead>
        <tbody>
          {[...versions].sort((a, b) => b.version - a.version).map((v) => (
            <tr key={v.version}>
              <td>v{v.version}</td>
              <td>{aliasesOf(v.version).join(', ') || '—'}</td>
              <td>{v.parent ? `${v.parent.name === record.name ? '' : `${v.parent.name}:`}v${v.parent.version}${v.derivedBy ? ` (${v.derivedBy})` : ''}` : '—'}</td>
              <td>{Object.entries(v.metrics).map(([k, n]) => `${k} ${n}`).join(', ') || '—'}</td>
              <td>{fmtBytes(v.size)}</td>
              <td title={v.digest}>{fmtTime(v.createdAt)} by {v.createdBy}</td>
              <td>{served.has(String(v.version)) ? <span class="badge ok">{served.get(String(v.version))!.toLowerCase()}</span> : <span class="muted">not loaded</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
