/**
 * Which berth the dashboard reads, and the API key it sends. The key stays in this tab only
 * (sessionStorage) and goes only to that server, as `Authorization: Bearer KEY`.
 */
import { useState } from 'preact/hooks';
import { useSettings } from '../hooks/use-settings';
import { displayBaseUrl, saveSettings } from '../settings';

export function SettingsPage() {
  const settings = useSettings();
  const [baseUrl, setBaseUrl] = useState(settings.baseUrl);
  const [apiKey, setApiKey] = useState(settings.apiKey);
  const [saved, setSaved] = useState(false);
  const save = (e: Event): void => {
    e.preventDefault();
    saveSettings({ baseUrl, apiKey });
    setSaved(true);
  };
  return (
    <section class="settings">
      <h1>Settings</h1>
      <form onSubmit={save} data-testid="settings-form">
        <label class="field">
          <span><strong>Server</strong> <span class="muted">the berth to read; empty for the one serving this page ({window.location.origin})</span></span>
          <input type="url" value={baseUrl} placeholder={window.location.origin} data-testid="base-url" onInput={(e) => { setBaseUrl(e.currentTarget.value); setSaved(false); }} />
        </label>
        <label class="field">
          <span>
            <strong>API key</strong> <span class="muted">needed when the server has a registry (<code>berth serve --registry</code>): <code>read</code> to look,{' '}
            <code>admin</code> to promote and roll back. Create one with <code>berth keys create --scope admin</code>.</span>
          </span>
          <input type="password" autocomplete="off" value={apiKey} placeholder="berth_…" data-testid="api-key" onInput={(e) => { setApiKey(e.currentTarget.value); setSaved(false); }} />
        </label>
        <div class="button-row">
          <button type="submit" data-testid="save-settings">Save</button>
          <button type="button" class="secondary" onClick={() => { setApiKey(''); saveSettings({ apiKey: '' }); }}>Forget the key</button>
        </div>
        {saved && <p class="ok-text" role="status" data-testid="settings-saved">Saved: reading {displayBaseUrl({ baseUrl: baseUrl.trim().replace(/\/+$/, ''), apiKey })}{apiKey ? ' with a key' : ''}.</p>}
      </form>
      <h2>Notes</h2>
      <ul>
        <li>The key is kept for this browser tab only (sessionStorage) and sent only to the server above.</li>
        <li>
          A berth on another origin answers this page only if the browser allows it: open the dashboard that berth serves itself (<code>http://HOST:8000/</code>),
          put both behind one proxy, or run <code>BERTH_URL=http://HOST:8000 npx vite</code> from a berth checkout (docs/dashboard.md).
        </li>
        <li>Everything the dashboard needs ships with berth: it works offline.</li>
      </ul>
    </section>
  );
}
