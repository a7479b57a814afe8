/**
 * Hash routes (#/models/digits), so the dashboard works from any URL a server puts it at and
 * needs no server-side routes: #/ overview, #/models/NAME, #/try[/NAME], #/audit, #/settings.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'overview' }
  | { page: 'model'; model: string }
  | { page: 'try'; model?: string }
  | { page: 'audit' }
  | { page: 'settings' }
  | { page: 'not-found'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  if (parts.length === 0 || (parts[0] === 'overview' && parts.length === 1)) return { page: 'overview' };
  if (parts[0] === 'models' && parts.length === 2) return { page: 'model', model: parts[1]! };
  if (parts[0] === 'try' && parts.length <= 2) return { page: 'try', model: parts[1] };
  if (parts[0] === 'audit' && parts.length === 1) return { page: 'audit' };
  if (parts[0] === 'settings' && parts.length === 1) return { page: 'settings' };
  return { page: 'not-found', path };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'overview':
      return '#/';
    case 'model':
      return `#/models/${encodeURIComponent(route.model)}`;
    case 'try':
      return route.model ? `#/try/${encodeURIComponent(route.model)}` : '#/try';
    case 'audit':
      return '#/audit';
    case 'settings':
      return '#/settings';
    default:
      return '#/';
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
