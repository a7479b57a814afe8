/**
 * The dashboard's frame: navigation, the server it talks to and whether it answers, and the
 * page of the current route.
 */
import { ApiError, getJson } from './api/client';
import { usePoll } from './hooks/use-poll';
import { useSettings } from './hooks/use-settings';
import { AuditPage } from './pages/audit';
import { ModelPage } from './pages/model';
import { OverviewPage } from './pages/overview';
import { SettingsPage } from './pages/settings';
import { TryItPage } from './pages/try-it';
import { href, useRoute } from './router';
import type { Route } from './router';
import { displayBaseUrl } from './settings';

function NavLink({ to, current, children }: { to: Route; current: Route; children: string }) {
  const active = to.page === current.page;
  return (
    <a href={href(to)} class={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
      {children}
    </a>
  );
}

/** Liveness of the server, polled from the public health endpoint. */
function ServerStatus() {
  const settings = useSettings();
  const live = usePoll(() => getJson<{ ready: boolean }>('/v2/health/ready').catch((err: unknown) => {
    // 503 means alive but not ready: still an answer
    if (err instanceof ApiError && err.problem.kind === 'http' && err.problem.status === 503) return { ready: false };
    throw err;
  }), [], 10000);
  const state = live.error ? (live.error.problem.kind === 'unreachable' ? 'unreachable' : 'error') : live.data ? (live.data.ready ? 'ready' : 'not ready') : '…';
  const cls = state === 'ready' ? 'ok' : state === 'unreachable' ? 'bad' : 'warn';
  return (
    <span class={`server-status ${cls}`} data-testid="server-status" title={`berth at ${displayBaseUrl(settings)}`}>
      <span class="dot" /> {displayBaseUrl(settings).replace(/^https?:\/\//, '')} · {state}
      {settings.apiKey ? ' · key set' : ''}
    </span>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <OverviewPage />;
    case 'model':
      return <ModelPage key={route.model} model={route.model} />;
    case 'try':
      return <TryItPage key={route.model ?? ''} model={route.model} />;
    case 'audit':
      return <AuditPage />;
    case 'settings':
      return <SettingsPage />;
    default:
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            Nothing at <code>#{route.path}</code>. Go to the <a href="#/">overview</a>.
          </p>
        </section>
      );
  }
}

export function App() {
  const route = useRoute();
  return (
    <>
      <header class="topbar">
        <a class="brand" href="#/">
          berth
        </a>
        <nav>
          <NavLink to={{ page: 'overview' }} current={route}>Overview</NavLink>
          <NavLink to={{ page: 'try' }} current={route}>Try it</NavLink>
          <NavLink to={{ page: 'audit' }} current={route}>Audit</NavLink>
          <NavLink to={{ page: 'settings' }} current={route}>Settings</NavLink>
        </nav>
        <ServerStatus />
      </header>
      <main>
        <Page route={route} />
      </main>
    </>
  );
}
