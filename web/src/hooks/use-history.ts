/**
 * The last 15 minutes of serving figures: the server's own history (GET /api/v1/metrics/history)
 * when it can be read, else points this page samples itself from the public GET /metrics since
 * it opened (no key yet on a server with API keys, or a berth without the history endpoint).
 */
import { useRef } from 'preact/hooks';
import { ApiError, getJson } from '../api/client';
import { MetricsSampler } from '../api/metrics-fallback';
import type { HistorySnapshot } from '../api/types';
import { usePoll } from './use-poll';
import { useSettings } from './use-settings';

export interface HistoryState {
  snapshot?: HistorySnapshot;
  /** 'server': the server's 15 minutes; 'browser': sampled by this page since it opened; 'loading': no answer yet */
  source: 'server' | 'browser' | 'loading';
  /** why the server's history was not used */
  fallbackReason?: string;
  error?: ApiError;
}

export function useHistory(model?: string, intervalMs = 5000): HistoryState {
  const sampler = useRef<MetricsSampler | null>(null);
  const fallback = useRef<string | undefined>(undefined);
  // A new server URL or key may make the server's history readable: ask it again.
  const settings = useSettings();
  const server = `${settings.baseUrl}\u0000${settings.apiKey}`;
  const forServer = useRef(server);
  if (forServer.current !== server) {
    forServer.current = server;
    fallback.current = undefined;
    sampler.current = null;
  }
  const polled = usePoll(async () => {
    if (!fallback.current) {
      try {
        return await getJson<HistorySnapshot>(`/api/v1/metrics/history${model ? `?model=${encodeURIComponent(model)}` : ''}`);
      } catch (err) {
        if (!(err instanceof ApiError) || (err.problem.kind !== 'unauthorised' && err.problem.kind !== 'not-found')) throw err;
        fallback.current = err.problem.kind === 'unauthorised'
          ? 'the server needs a read key for its history: showing figures since this page opened'
          : 'this server keeps no history: showing figures since this page opened';
      }
    }
    sampler.current ??= new MetricsSampler();
    const snapshot = await sampler.current.next();
    return model ? { ...snapshot, models: snapshot.models.filter((m) => m.model === model) } : snapshot;
  }, [model], intervalMs);
  // Only an answer says where the figures come from: before it, claim neither.
  const source = fallback.current ? 'browser' : polled.data ? 'server' : 'loading';
  return { snapshot: polled.data, source, fallbackReason: fallback.current, error: polled.error };
}
