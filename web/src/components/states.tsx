/**
 * What a page shows instead of data: while loading, when there is nothing yet, and when
 * something went wrong — always with what to do about it.
 */
import type { ComponentChildren } from 'preact';
import { ApiError } from '../api/client';
import { displayBaseUrl } from '../settings';

export function Loading({ what }: { what: string }) {
  return <p class="muted" role="status">Loading {what}…</p>;
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="notice notice-empty" data-state="empty">
      <strong>{title}</strong>
      {children && <div>{children}</div>}
    </div>
  );
}

/** An API error explained: unreachable server, not authorised, not found, or the server's message. */
export function Problem({ error, what }: { error: ApiError; what?: string }) {
  const p = error.problem;
  if (p.kind === 'unreachable') {
    return (
      <div class="notice notice-error" data-state="unreachable" role="alert">
        <strong>Cannot reach berth at {displayBaseUrl()}</strong>
        <div>
          Tried <code>{p.url}</code>: {p.detail}. Is the server running? Start one with <code>npx berth serve</code>, or set the
          server URL under <a href="#/settings">Settings</a>. A berth on another origin must be reachable from this page (see docs/dashboard.md).
        </div>
      </div>
    );
  }
  if (p.kind === 'unauthorised') {
    return (
      <div class="notice notice-warn" data-state="unauthorised" role="alert">
        <strong>Not authorised — enter an admin key</strong>
        <div>
          {p.status === 403 ? 'The key you entered lacks the scope for this.' : 'This server needs an API key to show this.'} Enter one under{' '}
          <a href="#/settings">Settings</a> (create one with <code>berth keys create --scope admin</code>; a <code>read</code> key is enough to look,
          promote and rollback need <code>admin</code>). The server said: {p.message}
        </div>
      </div>
    );
  }
  return (
    <div class="notice notice-error" data-state={p.kind} role="alert">
      <strong>{what ? `Could not load ${what}` : 'Request failed'}</strong>
      <div>
        {p.kind === 'http' && p.status ? `HTTP ${p.status}: ` : ''}
        {p.message}
      </div>
    </div>
  );
}

/** Shown where the registry's admin API would be, on a server started without it. */
export function RegistryAbsent({ what }: { what: string }) {
  return (
    <div class="notice notice-info" data-state="no-registry">
      <strong>No registry on this server</strong>
      <div>
        {what} come from the registry: start with <code>berth serve --registry</code> to see versions, rollouts and audit (
        <code>berth push model.onnx --name NAME</code> registers a model, <code>berth alias NAME production 1</code> serves it).
      </div>
    </div>
  );
}
