/**
 * What the server has turned on (GET /api/v1/server): the registry's admin API, API keys,
 * metrics history, monitoring. Asked once per server URL and key, shared by every page.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../api/client';
import type { ServerInfo } from '../api/types';
import { getSettings } from '../settings';
import { useSettings } from './use-settings';

export type ServerState =
  | { status: 'loading' }
  | { status: 'ok'; info: ServerInfo }
  /** the server has API keys and the dashboard has no (valid) key: so it has the registry */
  | { status: 'unauthorised'; error: ApiError }
  /** an older berth without /api/v1/server: the pages try each API and see */
  | { status: 'unknown' }
  | { status: 'error'; error: ApiError };

let cache: { key: string; promise: Promise<ServerState> } | undefined;

function probe(): Promise<ServerState> {
  const { baseUrl, apiKey } = getSettings();
  const key = `${baseUrl}\u0000${apiKey}`;
  if (cache?.key !== key) {
    const promise = getJson<ServerInfo>('/api/v1/server').then(
      (info): ServerState => ({ status: 'ok', info }),
      (err: unknown): ServerState => {
        if (!(err instanceof ApiError)) return { status: 'unknown' };
        if (err.problem.kind === 'unauthorised') return { status: 'unauthorised', error: err };
        if (err.problem.kind === 'not-found') return { status: 'unknown' };
        cache = undefined; // unreachable now is no reason to stop asking
        return { status: 'error', error: err };
      },
    );
    cache = { key, promise };
  }
  return cache.promise;
}

export function useServer(): ServerState {
  const settings = useSettings();
  const [state, setState] = useState<ServerState>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    setState({ status: 'loading' });
    void probe().then((s) => active && setState(s));
    return () => {
      active = false;
    };
  }, [settings.baseUrl, settings.apiKey]);
  return state;
}

/** Whether the registry's admin API is there: true, false, or undefined when it cannot be told yet. */
export function hasRegistry(state: ServerState): boolean | undefined {
  if (state.status === 'ok') return state.info.registry;
  // Only a server with a registry has API keys, so refusing us means there is one.
  if (state.status === 'unauthorised') return true;
  return undefined;
}
