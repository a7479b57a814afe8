/**
 * Loads data now and again every `intervalMs` (null: once), and again whenever `deps` or the
 * settings change. A load starts only after the previous one ended, so a slow server is never
 * asked twice at once. Answers that arrive after the component moved on are ignored rather
 * than aborted, so no request is ever cut off mid-flight.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { useSettings } from './use-settings';

export interface Polled<T> {
  data?: T;
  error?: ApiError;
  /** true until the first answer (or error) */
  loading: boolean;
  /** loads again now */
  refresh: () => void;
}

export function usePoll<T>(load: () => Promise<T>, deps: readonly unknown[], intervalMs: number | null = 5000): Polled<T> {
  const settings = useSettings();
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let active = true;
    let timer: number | undefined;
    setState((s) => ({ ...s, loading: s.data === undefined }));
    const run = async (): Promise<void> => {
      try {
        const data = await loadRef.current();
        if (active) setState({ data, loading: false });
      } catch (err) {
        const error = err instanceof ApiError ? err : new ApiError({ kind: 'http', url: '', status: 0, message: (err as Error).message });
        if (active) setState((s) => ({ data: s.data, error, loading: false }));
      }
      if (active && intervalMs !== null) timer = window.setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      active = false;
      if (timer !== undefined) window.clearTimeout(timer);
    };
    // the caller names what its load depends on (deps); the load itself is read through a ref
  }, [...deps, settings.baseUrl, settings.apiKey, tick, intervalMs]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, refresh };
}
