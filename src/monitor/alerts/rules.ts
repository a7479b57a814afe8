/**
 * The alert rules file (`berth serve --alerts rules.yaml`). Schema (docs/monitoring.md "Alerts"):
 *
 * ```yaml
 * interval: 5s                      # how often rules are evaluated (default 5s)
 * webhooks:                         # optional named targets
 *   ops: { url: http://alerts.internal/hook, headers: { authorization: Bearer x } }
 * rules:
 *   - name: digits-accuracy         # unique
 *     model: digits                 # optional; omitted: every served model, one alert each
 *     version: "2"                  # optional; default: the latest version with figures
 *     when: { accuracy_below: 0.9, min_labelled: 50 }
 *     for: 1m                       # must hold this long before firing (default 0)
 *     webhook: ops                  # a name from `webhooks`, or a URL, or {url, headers}
 *     labels: { severity: page }    # passed through to notifications
 * ```
 *
 * Conditions (exactly one per rule): `accuracy_below` (+ `min_labelled`, default 20),
 * `drift_windows` (dataset drift in N consecutive windows), `prediction_drift_windows`,
 * `p99_latency_ms_above` and `error_rate_above` (+ `window`, default 5m, and `min_requests`,
 * default 20).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export type ConditionKind = 'accuracy_below' | 'drift_windows' | 'prediction_drift_windows' | 'p99_latency_ms_above' | 'error_rate_above';
export const CONDITIONS: readonly ConditionKind[] = ['accuracy_below', 'drift_windows', 'prediction_drift_windows', 'p99_latency_ms_above', 'error_rate_above'];

export interface Webhook {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface AlertRule {
  name: string;
  model?: string;
  version?: string;
  kind: ConditionKind;
  threshold: number;
  /** accuracy: labelled predictions needed in the rolling window */
  minLabelled: number;
  /** latency / errors: requests needed in the window */
  minRequests: number;
  /** latency / errors: the window, seconds */
  windowSecs: number;
  forSecs: number;
  webhook?: Webhook;
  labels: Record<string, string>;
  summary?: string;
}

export interface AlertsConfig {
  intervalSecs: number;
  rules: AlertRule[];
}

/** `500ms`, `30s`, `5m`, `1h`, `1d`, or a number of seconds. */
export function parseDuration(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
    if (m) {
      const n = Number(m[1]);
      const unit = m[2] ?? 's';
      return unit === 'ms' ? n / 1000 : unit === 's' ? n : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n * 86400;
    }
  }
  throw new Error(`${where}: expected a duration like 30s, 5m, 1h (or seconds), got ${JSON.stringify(value)}`);
}

const duration = z.union([z.number().nonnegative(), z.string()]);
const webhookSchema = z.union([
  z.string().min(1),
  z.object({ url: z.string().url(), headers: z.record(z.string(), z.string()).optional(), timeout: duration.optional() }).strict(),
]);
const whenSchema = z
  .object({
    accuracy_below: z.number().min(0).max(1).optional(),
    min_labelled: z.number().int().min(1).optional(),
    drift_windows: z.number().int().min(1).optional(),
    prediction_drift_windows: z.number().int().min(1).optional(),
    p99_latency_ms_above: z.number().positive().optional(),
    error_rate_above: z.number().min(0).max(1).optional(),
    window: duration.optional(),
    min_requests: z.number().int().min(1).optional(),
  })
  .strict();
const ruleSchema = z
  .object({
    name: z.string().min(1),
    model: z.string().min(1).optional(),
    version: z.union([z.string(), z.number()]).optional(),
    when: whenSchema,
    for: duration.optional(),
    webhook: webhookSchema.optional(),
    labels: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    summary: z.string().optional(),
  })
  .strict();
const fileSchema = z
  .object({
    interval: duration.optional(),
    webhooks: z.record(z.string(), webhookSchema).optional(),
    rules: z.array(ruleSchema),
  })
  .strict();

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`).join('; ');
}

/** Validates a parsed rules document (YAML or JSON object). */
export function parseAlertsConfig(doc: unknown, where = 'alert rules'): AlertsConfig {
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) throw new Error(`${where}: ${zodMessage(parsed.error)}`);
  const file = parsed.data;
  const named = new Map<string, Webhook>();
  const toWebhook = (w: z.infer<typeof webhookSchema>, at: string, allowNamed: boolean): Webhook => {
    if (typeof w === 'string') {
      if (allowNamed && named.has(w)) return named.get(w)!;
      try {
        const u = new URL(w);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
      } catch {
        throw new Error(`${where}: ${at}: '${w}' is neither a webhook name from 'webhooks' nor an http(s) URL`);
      }
      return { url: w, headers: {}, timeoutMs: 5000 };
    }
    const timeoutMs = w.timeout === undefined ? 5000 : parseDuration(w.timeout, `${at}.timeout`) * 1000;
    // a Node timer holds at most 2^31-1 ms: a longer one would abort the webhook at once
    if (timeoutMs > 2 ** 31 - 1) throw new Error(`${where}: ${at}.timeout: at most 2147483647 ms (about 24.8 days)`);
    return { url: w.url, headers: w.headers ?? {}, timeoutMs };
  };
  for (const [name, w] of Object.entries(file.webhooks ?? {})) named.set(name, toWebhook(w, `webhooks.${name}`, false));
  const seen = new Set<string>();
  const rules = file.rules.map((r, i): AlertRule => {
    const at = `rules.${i} (${r.name})`;
    if (seen.has(r.name)) throw new Error(`${where}: ${at}: the rule name '${r.name}' is used twice`);
    seen.add(r.name);
    const present = CONDITIONS.filter((c) => r.when[c] !== undefined);
    if (present.length !== 1) {
      throw new Error(`${where}: ${at}: 'when' needs exactly one of ${CONDITIONS.join(', ')}${present.length ? ` (has ${present.join(', ')})` : ''}`);
    }
    const kind = present[0];
    return {
      name: r.name,
      model: r.model,
      version: r.version === undefined ? undefined : String(r.version),
      kind,
      threshold: r.when[kind]!,
      minLabelled: r.when.min_labelled ?? 20,
      minRequests: r.when.min_requests ?? 20,
      windowSecs: r.when.window === undefined ? 300 : Math.max(1, parseDuration(r.when.window, `${at}.when.window`)),
      forSecs: r.for === undefined ? 0 : parseDuration(r.for, `${at}.for`),
      webhook: r.webhook === undefined ? undefined : toWebhook(r.webhook, `${at}.webhook`, true),
      labels: Object.fromEntries(Object.entries(r.labels ?? {}).map(([k, v]) => [k, String(v)])),
      summary: r.summary,
    };
  });
  return { intervalSecs: file.interval === undefined ? 5 : Math.max(0.05, parseDuration(file.interval, 'interval')), rules };
}

/** Parses rules YAML (or JSON, which is YAML). */
export function parseAlertsYaml(text: string, where = 'alert rules'): AlertsConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${where}: not valid YAML: ${(err as Error).message}`);
  }
  return parseAlertsConfig(doc, where);
}

export async function loadAlertsFile(path: string): Promise<AlertsConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the alert rules file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
  }
  return parseAlertsYaml(text, path);
}
