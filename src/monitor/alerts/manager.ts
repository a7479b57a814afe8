/**
 * Evaluates alert rules every few seconds over the monitoring figures (accuracy from feedback,
 * drift windows, and the alerts' own per-model latency/error window), keeps each alert's state
 * (inactive → pending → firing → inactive), and POSTs a JSON notification to the rule's webhook
 * when an alert starts firing and when it resolves: one notification per transition, never
 * repeated while the alert keeps firing.
 *
 * An alert is one (rule, model): a rule without `model` makes one per served model. When a
 * figure has no data (too few labels or requests, no drift window yet) the alert keeps its
 * state: missing data neither fires nor resolves it.
 */
import type { AlertRule, AlertsConfig, ConditionKind, Webhook } from './rules.js';
import type { RequestWindow } from './request-window.js';

export type AlertState = 'inactive' | 'pending' | 'firing';

/** The figures alert rules read. */
export interface AlertSources {
  models(): string[];
  accuracy?(model: string, version?: string): { version: string; accuracy: number | null; labelled: number } | undefined;
  drift?(model: string, version?: string): { version: string; consecutive: number; predictionConsecutive: number | null } | undefined;
  requests?: RequestWindow;
}

export interface Notification {
  status: 'firing' | 'resolved';
  rule: string;
  model: string;
  version: string | null;
  condition: ConditionKind;
  threshold: number;
  value: number | null;
  summary: string;
  labels: Record<string, string>;
  /** when the alert started firing */
  started_at: string;
  /** when it resolved (resolved notifications) */
  resolved_at?: string;
  /** this notification's time */
  at: string;
}

export interface NotificationRecord extends Notification {
  webhook: string | null;
  delivered: boolean;
  attempts: number;
  error?: string;
}

interface Instance {
  rule: AlertRule;
  model: string;
  state: AlertState;
  since: number;
  firingSince?: number;
  value: number | null;
  version: string | null;
  lastEvaluated?: number;
  /** notifications of this alert go out in order */
  delivery: Promise<void>;
}

export interface AlertManagerOptions {
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** recent notifications kept for GET /api/v1/alerts (default 100) */
  keepNotifications?: number;
  /** webhook delivery attempts (default 3) */
  attempts?: number;
  /** override the file's evaluation interval, seconds */
  intervalSecs?: number;
}

const DESCRIBE: Record<ConditionKind, (v: number, r: AlertRule) => string> = {
  accuracy_below: (v, r) => `accuracy ${v.toFixed(3)} is below ${r.threshold} (rolling window)`,
  drift_windows: (v, r) => `data drift in ${v} consecutive windows (threshold ${r.threshold})`,
  prediction_drift_windows: (v, r) => `prediction drift in ${v} consecutive windows (threshold ${r.threshold})`,
  p99_latency_ms_above: (v, r) => `p99 latency ${v.toFixed(2)} ms is above ${r.threshold} ms over ${r.windowSecs}s`,
  error_rate_above: (v, r) => `error rate ${(v * 100).toFixed(2)}% is above ${(r.threshold * 100).toFixed(2)}% over ${r.windowSecs}s`,
};

export class AlertManager {
  readonly intervalSecs: number;
  private readonly instances = new Map<string, Instance>();
  private readonly notifications: NotificationRecord[] = [];
  private timer?: NodeJS.Timeout;
  private evaluating = false;

  constructor(readonly config: AlertsConfig, private readonly sources: AlertSources, private readonly options: AlertManagerOptions = {}) {
    this.intervalSecs = options.intervalSecs ?? config.intervalSecs;
  }

  /** The longest latency/error window any rule needs, seconds (0: none). */
  static requestWindowSecs(config: AlertsConfig): number {
    return config.rules.filter((r) => r.kind === 'p99_latency_ms_above' || r.kind === 'error_rate_above').reduce((m, r) => Math.max(m, r.windowSecs), 0);
  }

  start(): void {
    if (this.timer || this.config.rules.length === 0) return;
    this.timer = setInterval(() => this.evaluate(), this.intervalSecs * 1000);
    this.timer.unref();
  }

  /** Stops evaluating and waits for notifications being delivered. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.instances.values()].map((i) => i.delivery));
  }

  /** Waits for notifications in flight (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.delivery));
  }

  private figure(rule: AlertRule, model: string, now: number): { value: number | null; version: string | null } {
    switch (rule.kind) {
      case 'accuracy_below': {
        const a = this.sources.accuracy?.(model, rule.version);
        if (!a || a.accuracy === null || a.labelled < rule.minLabelled) return { value: null, version: a?.version ?? null };
        return { value: a.accuracy, version: a.version };
      }
      case 'drift_windows':
      case 'prediction_drift_windows': {
        const d = this.sources.drift?.(model, rule.version);
        if (!d) return { value: null, version: null };
        return { value: rule.kind === 'drift_windows' ? d.consecutive : d.predictionConsecutive, version: d.version };
      }
      case 'p99_latency_ms_above':
      case 'error_rate_above': {
        const f = this.sources.requests?.figures(model, rule.windowSecs, now);
        if (!f || f.requests < rule.minRequests) return { value: null, version: null };
        return { value: rule.kind === 'error_rate_above' ? f.error_rate : f.p99_ms, version: null };
      }
    }
  }

  private holds(rule: AlertRule, value: number): boolean {
    switch (rule.kind) {
      case 'accuracy_below':
        return value < rule.threshold;
      case 'drift_windows':
      case 'prediction_drift_windows':
        return value >= rule.threshold;
      default:
        return value > rule.threshold;
    }
  }

  /** One evaluation of every rule (the timer calls it; tests may too). */
  evaluate(now = Date.now()): void {
    if (this.evaluating) return;
    this.evaluating = true;
    try {
      const served = this.sources.models();
      for (const rule of this.config.rules) {
        const models = rule.model ? [rule.model] : served;
        for (const model of models) this.step(rule, model, now);
      }
    } finally {
      this.evaluating = false;
    }
  }

  private step(rule: AlertRule, model: string, now: number): void {
    const key = `${rule.name}\u0000${model}`;
    let inst = this.instances.get(key);
    if (!inst) {
      inst = { rule, model, state: 'inactive', since: now, value: null, version: null, delivery: Promise.resolve() };
      this.instances.set(key, inst);
    }
    const { value, version } = this.figure(rule, model, now);
    inst.lastEvaluated = now;
    inst.value = value;
    if (version !== null) inst.version = version;
    if (value === null) return; // no data: keep the state
    if (this.holds(rule, value)) {
      if (inst.state === 'inactive') {
        inst.state = 'pending';
        inst.since = now;
      }
      if (inst.state === 'pending' && now - inst.since >= rule.forSecs * 1000) {
        inst.state = 'firing';
        inst.since = now;
        inst.firingSince = now;
        this.notify(inst, 'firing', now);
      }
    } else if (inst.state !== 'inactive') {
      const wasFiring = inst.state === 'firing';
      inst.state = 'inactive';
      inst.since = now;
      if (wasFiring) this.notify(inst, 'resolved', now);
      inst.firingSince = undefined;
    }
  }

  private notify(inst: Instance, status: 'firing' | 'resolved', now: number): void {
    const rule = inst.rule;
    const value = inst.value;
    const what = value === null ? '' : DESCRIBE[rule.kind](value, rule);
    const n: Notification = {
      status,
      rule: rule.name,
      model: inst.model,
      version: inst.version,
      condition: rule.kind,
      threshold: rule.threshold,
      value,
      summary: rule.summary ?? `${inst.model}${inst.version ? ` v${inst.version}` : ''}: ${status === 'firing' ? what : `resolved: ${what}`}`,
      labels: rule.labels,
      started_at: new Date(inst.firingSince ?? now).toISOString(),
      resolved_at: status === 'resolved' ? new Date(now).toISOString() : undefined,
      at: new Date(now).toISOString(),
    };
    const record: NotificationRecord = { ...n, webhook: rule.webhook?.url ?? null, delivered: false, attempts: 0 };
    this.notifications.push(record);
    const keep = this.options.keepNotifications ?? 100;
    if (this.notifications.length > keep) this.notifications.splice(0, this.notifications.length - keep);
    (status === 'firing' ? this.options.log?.warn : this.options.log?.info)?.call(this.options.log, { alert: rule.name, model: inst.model, value, status }, `alert ${rule.name} ${status}: ${n.summary}`);
    const webhook = rule.webhook;
    if (webhook) inst.delivery = inst.delivery.then(() => this.deliver(webhook, n, record));
  }

  private async deliver(webhook: Webhook, n: Notification, record: NotificationRecord): Promise<void> {
    const attempts = this.options.attempts ?? 3;
    for (let i = 1; i <= attempts; i++) {
      record.attempts = i;
      try {
        const res = await fetch(webhook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'berth-alerts', ...webhook.headers },
          body: JSON.stringify(n),
          signal: AbortSignal.timeout(webhook.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          record.delivered = true;
          record.error = undefined;
          return;
        }
        record.error = `HTTP ${res.status}`;
      } catch (err) {
        record.error = (err as Error).message;
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, 500 * 2 ** (i - 1)).unref());
    }
    this.options.log?.warn({ alert: n.rule, model: n.model, webhook: webhook.url, error: record.error }, 'alert webhook delivery failed');
  }

  /** Rules with their alerts' states and recent notifications (GET /api/v1/alerts). */
  list(): { interval_secs: number; rules: object[]; notifications: NotificationRecord[] } {
    const rank: Record<AlertState, number> = { inactive: 0, pending: 1, firing: 2 };
    const rules = this.config.rules.map((r) => {
      const alerts = [...this.instances.values()].filter((i) => i.rule === r).map((i) => ({
        model: i.model,
        version: i.version,
        state: i.state,
        since: new Date(i.since).toISOString(),
        firing_since: i.firingSince ? new Date(i.firingSince).toISOString() : null,
        value: i.value,
        last_evaluated: i.lastEvaluated ? new Date(i.lastEvaluated).toISOString() : null,
      }));
      const worst = alerts.reduce<AlertState>((s, a) => (rank[a.state] > rank[s] ? a.state : s), 'inactive');
      return {
        name: r.name,
        model: r.model ?? null,
        version: r.version ?? null,
        condition: r.kind,
        threshold: r.threshold,
        ...(r.kind === 'accuracy_below' ? { min_labelled: r.minLabelled } : {}),
        ...(r.kind === 'p99_latency_ms_above' || r.kind === 'error_rate_above' ? { window_secs: r.windowSecs, min_requests: r.minRequests } : {}),
        for_secs: r.forSecs,
        webhook: r.webhook?.url ?? null,
        labels: r.labels,
        state: worst,
        alerts,
      };
    });
    return { interval_secs: this.intervalSecs, rules, notifications: this.notifications.slice().reverse() };
  }
}
