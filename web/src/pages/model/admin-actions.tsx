/**
 * Promote, abort and roll back, through the admin API. Each asks for confirmation first and
 * needs an admin key (Settings); the answer, or why it was refused, is shown in place.
 */
import { useState } from 'preact/hooks';
import { ApiError, postJson } from '../../api/client';
import type { RolloutState } from '../../api/types';
import { Problem } from '../../components/states';
import { useSettings } from '../../hooks/use-settings';

type Action = 'promote' | 'abort' | 'rollback';

const PATHS: Record<Action, string> = { promote: 'rollout/promote', abort: 'rollout/abort', rollback: 'rollback' };

function describe(action: Action, rollout: RolloutState): string {
  if (action === 'promote') return `Move production to v${rollout.canary?.version ?? rollout.shadow?.version} and end the rollout?`;
  if (action === 'abort') return 'End the canary and shadow, sending all traffic back to production?';
  return 'Return production to the version it pointed to before its last change (and end any rollout)?';
}

export function AdminActions({ model, rollout, onDone }: { model: string; rollout: RolloutState; onDone: () => void }) {
  const settings = useSettings();
  const [pending, setPending] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const candidate = rollout.canary?.version ?? rollout.shadow?.version;

  const run = async (action: Action): Promise<void> => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const after = await postJson<RolloutState>(`/api/v1/models/${encodeURIComponent(model)}/${PATHS[action]}`);
      setResult(action === 'abort' ? `Rollout ended: production stays v${after.production}.` : `production → v${after.production}`);
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError({ kind: 'http', url: '', status: 0, message: String(err) }));
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  const noKey = !settings.apiKey;
  return (
    <div class="actions" data-testid="admin-actions">
      <div class="button-row">
        <button type="button" data-testid="promote-button" disabled={noKey || busy || candidate === undefined} onClick={() => setPending('promote')}>
          Promote{candidate !== undefined ? ` v${candidate}` : ''}
        </button>
        <button type="button" data-testid="abort-button" class="secondary" disabled={noKey || busy || (!rollout.canary && !rollout.shadow)} onClick={() => setPending('abort')}>
          Abort rollout
        </button>
        <button type="button" data-testid="rollback-button" class="danger" disabled={noKey || busy || rollout.production === null} onClick={() => setPending('rollback')}>
          Roll back production
        </button>
      </div>
      {noKey && (
        <p class="muted">
          Promote, abort and rollback need an admin key: enter one under <a href="#/settings">Settings</a>.
        </p>
      )}
      {pending && (
        <div class="confirm" role="dialog" aria-label="confirm">
          <span>{describe(pending, rollout)}</span>
          <button type="button" data-testid="confirm-button" disabled={busy} onClick={() => void run(pending)}>Confirm</button>
          <button type="button" class="secondary" onClick={() => setPending(null)}>Cancel</button>
        </div>
      )}
      {result && <p class="ok-text" data-testid="action-result" role="status">{result}</p>}
      {error && <Problem error={error} what="the change" />}
    </div>
  );
}
