/**
 * The audit log: who changed what and when (aliases, rollouts, versions, keys), newest first,
 * filterable by model on the server and by action, actor and text here.
 * Reads GET /api/v1/audit (the registry's admin API).
 */
import { useState } from 'preact/hooks';
import { getJson } from '../api/client';
import type { AuditEntry, ModelRecord } from '../api/types';
import { Empty, Loading, Problem, RegistryAbsent } from '../components/states';
import { usePoll } from '../hooks/use-poll';
import { hasRegistry, useServer } from '../hooks/use-server';
import { fmtTime } from '../lib/format';

function brief(value: unknown): string {
  if (value === undefined || value === null) return '—';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

export function AuditPage() {
  const server = useServer();
  const registry = hasRegistry(server);
  const [model, setModel] = useState('');
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [text, setText] = useState('');
  const [limit, setLimit] = useState(200);
  // without a (valid) key the server has already said no: do not ask again for each part
  const ask = registry !== false && server.status !== 'loading' && server.status !== 'error' && server.status !== 'unauthorised';
  const models = usePoll(async () => (ask ? getJson<{ models: ModelRecord[] }>('/api/v1/models') : undefined), [ask], 30000);
  const log = usePoll(async () => {
    if (!ask) return undefined;
    const query = new URLSearchParams({ limit: String(limit) });
    if (model) query.set('model', model);
    return getJson<{ entries: AuditEntry[] }>(`/api/v1/audit?${query.toString()}`);
  }, [ask, model, limit], 10000);

  if (server.status === 'loading') return <Loading what="the server's features" />;
  if (server.status === 'error' || server.status === 'unauthorised') {
    return (
      <section>
        <h1>Audit</h1>
        <Problem error={server.error} what="the server" />
      </section>
    );
  }
  if (registry === false) {
    return (
      <section>
        <h1>Audit</h1>
        <RegistryAbsent what="The audit log, versions and rollouts" />
      </section>
    );
  }
  const entries = log.data?.entries ?? [];
  const actions = [...new Set(entries.map((e) => e.action))].sort();
  const needle = text.trim().toLowerCase();
  const shown = entries.filter(
    (e) =>
      (!action || e.action === action) &&
      (!actor || e.actor.toLowerCase().includes(actor.trim().toLowerCase())) &&
      (!needle || JSON.stringify(e).toLowerCase().includes(needle)),
  );
  return (
    <section>
      <div class="page-head">
        <h1>Audit</h1>
        <span class="muted">every change to the registry, newest first</span>
      </div>
      <form class="filters" data-testid="audit-filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          model
          <select value={model} data-testid="audit-model" onChange={(e) => setModel(e.currentTarget.value)}>
            <option value="">all</option>
            {(models.data?.models ?? []).map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
          </select>
        </label>
        <label>
          action
          <select value={action} data-testid="audit-action" onChange={(e) => setAction(e.currentTarget.value)}>
            <option value="">all</option>
            {actions.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <label>
          actor
          <input value={actor} placeholder="e.g. api-key:" onInput={(e) => setActor(e.currentTarget.value)} />
        </label>
        <label>
          text
          <input value={text} data-testid="audit-text" placeholder="search" onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <label>
          newest
          <select value={String(limit)} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            {[50, 200, 1000, 10000].map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
      </form>
      {log.error && <Problem error={log.error} what="the audit log" />}
      {log.loading ? (
        <Loading what="the audit log" />
      ) : !log.error && entries.length === 0 ? (
        <Empty title="Nothing audited yet">Changes appear here as they happen: <code>berth push</code>, aliases, rollouts, promote, rollback, keys.</Empty>
      ) : (
        entries.length > 0 && (
          <table class="table" data-testid="audit-table">
            <thead>
              <tr><th>when</th><th>actor</th><th>action</th><th>model</th><th>before</th><th>after</th></tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id} data-action={e.action}>
                  <td>{fmtTime(e.at)}</td>
                  <td>{e.actor}</td>
                  <td><code>{e.action}</code></td>
                  <td>{e.model ?? '—'}</td>
                  <td class="json">{brief(e.before)}</td>
                  <td class="json">{brief(e.after)}</td>
                </tr>
              ))}
              {shown.length === 0 && <tr><td colSpan={6} class="muted">No entry matches the filters.</td></tr>}
            </tbody>
          </table>
        )
      )}
    </section>
  );
}
