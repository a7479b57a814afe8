/**
 * Every request the dashboard makes goes through here: it prefixes the configured server URL,
 * adds the API key, and turns failures into the few problems the pages know how to explain
 * (server unreachable, not authorised, not found, other errors).
 */
import { displayBaseUrl, getSettings } from '../settings';

export type ApiProblem =
  | { kind: 'unreachable'; url: string; detail: string }
  | { kind: 'unauthorised'; url: string; status: number; message: string }
  | { kind: 'not-found'; url: string; message: string }
  | { kind: 'http'; url: string; status: number; message: string };

export class ApiError extends Error {
  constructor(readonly problem: ApiProblem) {
    super(problem.kind === 'unreachable' ? `cannot reach ${problem.url}: ${problem.detail}` : `${problem.url}: ${problem.message}`);
  }
}

export function isProblem(err: unknown, kind: ApiProblem['kind']): boolean {
  return err instanceof ApiError && err.problem.kind === kind;
}

export function urlOf(path: string): string {
  return `${getSettings().baseUrl}${path}`;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const { apiKey } = getSettings();
  return apiKey ? { authorization: `Bearer ${apiKey}`, ...extra } : extra;
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: use the text
  }
  return text.slice(0, 300) || res.statusText || `HTTP ${res.status}`;
}

/** fetch() with the server URL and key; throws ApiError for anything but a 2xx answer. */
export async function request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const url = urlOf(path);
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: headers(init.headers) });
  } catch (err) {
    // fetch rejects only when no answer came: server down, wrong URL, or a cross-origin refusal.
    throw new ApiError({ kind: 'unreachable', url: path.startsWith('/') ? `${displayBaseUrl()}${path}` : url, detail: (err as Error).message });
  }
  if (res.ok) return res;
  const message = await errorMessage(res);
  const shown = `${displayBaseUrl()}${path}`;
  if (res.status === 401 || res.status === 403) throw new ApiError({ kind: 'unauthorised', url: shown, status: res.status, message });
  if (res.status === 404) throw new ApiError({ kind: 'not-found', url: shown, message });
  throw new ApiError({ kind: 'http', url: shown, status: res.status, message });
}

export async function getJson<T>(path: string): Promise<T> {
  return (await request(path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body?: unknown): Promise<T> {
  const res = await request(path, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  return res.json() as Promise<T>;
}
