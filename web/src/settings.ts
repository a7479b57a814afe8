/**
 * Where the dashboard's berth is and the API key it sends. The server URL is remembered across
 * visits (localStorage); the key only for this browser tab (sessionStorage), so closing the tab
 * forgets it. Nothing else is stored.
 */
export interface Settings {
  /** the berth base URL; '' means the server this page came from */
  baseUrl: string;
  /** an API key (berth keys create), sent as `Authorization: Bearer KEY`; '' for none */
  apiKey: string;
}

const BASE_URL_KEY = 'berth.baseUrl';
const API_KEY_KEY = 'berth.apiKey';

function read(storage: Storage, key: string): string {
  try {
    return storage.getItem(key) ?? '';
  } catch {
    return ''; // storage can be unavailable (privacy modes); the dashboard still works without it
  }
}

function write(storage: Storage, key: string, value: string): void {
  try {
    if (value) storage.setItem(key, value);
    else storage.removeItem(key);
  } catch {
    // kept in memory only
  }
}

let current: Settings = { baseUrl: read(localStorage, BASE_URL_KEY), apiKey: read(sessionStorage, API_KEY_KEY) };
const listeners = new Set<(s: Settings) => void>();

export function getSettings(): Settings {
  return current;
}

/** Trailing slashes are dropped so that paths can be appended as they are. */
export function normaliseBaseUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

export function saveSettings(next: Partial<Settings>): void {
  current = {
    baseUrl: next.baseUrl === undefined ? current.baseUrl : normaliseBaseUrl(next.baseUrl),
    apiKey: next.apiKey === undefined ? current.apiKey : next.apiKey.trim(),
  };
  write(localStorage, BASE_URL_KEY, current.baseUrl);
  write(sessionStorage, API_KEY_KEY, current.apiKey);
  for (const listener of listeners) listener(current);
}

export function onSettingsChange(listener: (s: Settings) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The URL the dashboard talks to, for messages: the page's own origin when none is set. */
export function displayBaseUrl(settings: Settings = current): string {
  return settings.baseUrl || window.location.origin;
}
