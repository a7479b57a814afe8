/**
 * The catalog state this server has applied (serve --registry): a badge in the overview's head,
 * from GET /api/v1/server's `convergence`, polled, since it changes with every rollout. Compare
 * the badge across replicas to see a fleet converge (docs/fleet.md). Shown only when the server
 * answered /api/v1/server with a convergence report (registry on, key accepted).
 */
import { getJson } from '../api/client';
import type { Convergence, ServerInfo } from '../api/types';
import { usePoll } from '../hooks/use-poll';
import { useServer } from '../hooks/use-server';

export function ConvergenceBadge() {
  const server = useServer();
  if (server.status !== 'ok' || !server.info.convergence) return null;
  return <PolledBadge first={server.info.convergence} />;
}

function PolledBadge({ first }: { first: Convergence }) {
  const info = usePoll(() => getJson<ServerInfo>('/api/v1/server'), [], 5000);
  const c = info.data?.convergence ?? first;
  const waiting = c.models.filter((m) => m.state !== 'converged');
  const [cls, text] = c.catalog === 'unreachable'
    ? ['bad', `catalog unreachable${c.source === 'cache' ? ': serving the saved state' : ''}`]
    : c.converged
      ? ['ok', `catalog change ${c.applied_seq} applied`]
      : ['warn', `applying catalog change ${c.catalog_seq ?? '?'} (${waiting.map((m) => `${m.name}: ${m.state}`).join(', ') || 'reading'})`];
  const reasons = [c.error, ...waiting.map((m) => m.error && `${m.name}: ${m.error}`)].filter(Boolean).join('; ');
  return (
    <span class={`badge ${cls}`} data-testid="convergence" title={reasons || `applied ${c.applied_at ?? 'never'}; checked ${c.checked_at ?? 'never'}`}>
      {text}
    </span>
  );
}
