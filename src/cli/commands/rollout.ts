/**
 * `berth rollout` and `berth rollback`: change what a model's production traffic sees, by
 * writing the registry's catalog. Servers running `berth serve --registry` pick the change up
 * at their next poll (no restart), and move without downtime.
 *
 *   berth rollout N --to V --canary P     P% of unversioned requests go to V, the rest to production
 *   berth rollout N --shadow V            every request is mirrored to V, answers compared, never returned
 *                                         (each changes only its part: a running shadow or canary stays)
 *   berth rollout N --promote             the production alias moves to the canary; the rollout ends
 *   berth rollout N --abort               the canary and shadow end; all traffic back to production
 *   berth rollback N                      production returns to the previous production version
 *   berth rollout N --status [--server URL]   the catalog's state, and a server's live statistics
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { invalidArgument } from '../../core/errors.js';
import type { RegistryApi, Rollout } from '../../serving/registry-api.js';
import { PRODUCTION_ALIAS, openRegistry } from '../../serving/registry-sync.js';
import { fail } from '../fail.js';

interface CommonFlags {
  home?: string;
  catalog?: string;
  actor?: string;
  json?: boolean;
}

interface RolloutFlags extends CommonFlags {
  to?: number;
  canary?: number;
  shadow?: number;
  promote?: boolean;
  abort?: boolean;
  status?: boolean;
  server?: string;
  apiKey?: string;
}

function versionArg(value: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value)) throw new InvalidArgumentError(`expected a version number ≥ 1, got '${value}'`);
  return Number(value);
}

function percentArg(value: string): number {
  const n = Number(value.endsWith('%') ? value.slice(0, -1) : value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError(`expected a percentage between 0 and 100, got '${value}'`);
  return n;
}

async function withRegistry<T>(flags: CommonFlags, fn: (registry: RegistryApi) => Promise<T>): Promise<T> {
  const registry = await openRegistry({ home: flags.home, catalogUrl: flags.catalog });
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

export interface RolloutState {
  model: string;
  production: number | null;
  canary: { version: number; percent: number } | null;
  shadow: { version: number } | null;
  updatedAt: string | null;
}

async function catalogState(registry: RegistryApi, name: string): Promise<RolloutState> {
  const [model, rollout] = await Promise.all([registry.getModel(name), registry.getRollout(name)]);
  return stateOf(name, model.aliases[PRODUCTION_ALIAS], rollout);
}

function stateOf(name: string, production: number | undefined, rollout: Rollout | undefined): RolloutState {
  return {
    model: name,
    production: production ?? null,
    canary: rollout?.canary ?? null,
    shadow: rollout?.shadow ?? null,
    updatedAt: rollout?.updatedAt ?? null,
  };
}

export function formatState(s: RolloutState): string {
  const lines = [`${s.model}: production ${s.production === null ? '(none)' : `v${s.production}`}`];
  if (s.canary) lines.push(`  canary  v${s.canary.version} at ${s.canary.percent}% of unversioned requests`);
  if (s.shadow) lines.push(`  shadow  v${s.shadow.version} (mirrored, answers compared, never returned)`);
  if (!s.canary && !s.shadow) lines.push('  no rollout in progress');
  if (s.updatedAt) lines.push(`  updated ${s.updatedAt}`);
  return lines.join('\n') + '\n';
}

const fmt = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? '—' : v.toFixed(digits));

interface LiveStats {
  served: boolean;
  versions: { version: string; state: string }[];
  policy: { production: string; canary?: { version: string; percent: number }; shadow?: string } | null;
  since: string | null;
  requests: Record<string, { success: number; failure: number }>;
  canaryShare: number | null;
  shadow: {
    version: string; mirrored: number; agreed: number; agreement: number | null; skipped: number; failed: number; maxAbsDiff: number;
    latencyMs: { primary: { p50?: number; p99?: number }; shadow: { p50?: number; p99?: number } };
  } | null;
}

export function formatLive(server: string, s: LiveStats): string {
  if (!s.served) return `live (${server}): not served by this server\n`;
  const lines = [`live (${server}): versions ${s.versions.map((v) => `v${v.version} ${v.state}`).join(', ')}${s.since ? `; policy since ${s.since}` : ''}`];
  for (const [v, c] of Object.entries(s.requests)) lines.push(`  v${v}: ${c.success} ok, ${c.failure} failed`);
  if (s.canaryShare !== null) lines.push(`  canary share: ${fmt(s.canaryShare * 100, 1)}%`);
  const sh = s.shadow;
  if (sh) {
    lines.push(`  shadow v${sh.version}: ${sh.mirrored} mirrored, agreement ${sh.agreement === null ? '—' : `${fmt(sh.agreement * 100, 2)}%`}, max |diff| ${sh.maxAbsDiff.toPrecision(3)}, ${sh.skipped} skipped, ${sh.failed} failed`);
    lines.push(`    latency ms p50/p99: production ${fmt(sh.latencyMs.primary.p50, 3)}/${fmt(sh.latencyMs.primary.p99, 3)}, shadow ${fmt(sh.latencyMs.shadow.p50, 3)}/${fmt(sh.latencyMs.shadow.p99, 3)}`);
  }
  return lines.join('\n') + '\n';
}

/** Live statistics from a server's admin API (needs a read or admin key when it checks keys). */
async function fetchLive(server: string, name: string, apiKey?: string): Promise<LiveStats> {
  const url = `${server.replace(/\/+$/, '')}/api/v1/models/${encodeURIComponent(name)}/rollout/stats`;
  const res = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: keep the text
    }
    throw invalidArgument(`${server}: HTTP ${res.status}: ${message}`);
  }
  return JSON.parse(text) as LiveStats;
}

function common(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'registry home [default: $BERTH_HOME or ~/.berth]')
    .option('--catalog <url>', 'catalog URL, e.g. postgres://... [default: $BERTH_CATALOG_URL or the SQLite catalog in the home]')
    .option('--actor <name>', 'who makes the change, for the audit log [default: $USER]')
    .option('--json', 'print the result as JSON');
}

export function registerRolloutCommands(program: Command): void {
  common(program
    .command('rollout')
    .description('canary, shadow, promote or abort a model\'s rollout (servers following the registry pick it up)')
    .argument('<name>', 'registered model name')
    .option('--to <version>', 'the canary version (with --canary)', versionArg)
    .option('--canary <percent>', 'share of unversioned requests sent to --to, 0–100', percentArg)
    .option('--shadow <version>', 'mirror every request to this version; its answers are compared, never returned', versionArg)
    .option('--promote', 'move the production alias to the canary and end the rollout')
    .option('--abort', 'end the canary and shadow: all traffic back to production')
    .option('--status', 'show the rollout (default when no action is given)')
    .option('--server <url>', 'with --status: also show a running server\'s live statistics (per-version requests, canary share, shadow agreement)')
    .option('--api-key <key>', 'API key for --server [default: $BERTH_API_KEY]'))
    .action(async (name: string, flags: RolloutFlags) => {
      try {
        const actions = [flags.to !== undefined || flags.canary !== undefined || flags.shadow !== undefined, !!flags.promote, !!flags.abort].filter(Boolean).length;
        if (actions > 1) throw invalidArgument('give one of: --to V --canary P / --shadow V, --promote, --abort');
        if ((flags.to === undefined) !== (flags.canary === undefined)) throw invalidArgument('--to V and --canary P go together (e.g. --to 4 --canary 10)');
        if (flags.server && !(flags.status || actions === 0)) throw invalidArgument('--server goes with --status');
        const state = await withRegistry(flags, async (registry) => {
          if (flags.to !== undefined || flags.shadow !== undefined) {
            // Each flag changes only its part: stepping a canary up keeps a running shadow.
            const current = await registry.getRollout(name);
            const spec: { canary?: { version: number; percent: number }; shadow?: { version: number } } = {};
            const canary = flags.to !== undefined ? { version: flags.to, percent: flags.canary! } : current?.canary;
            const shadow = flags.shadow !== undefined ? { version: flags.shadow } : current?.shadow;
            if (canary) spec.canary = canary;
            if (shadow) spec.shadow = shadow;
            await registry.startRollout(name, spec, flags.actor);
          } else if (flags.promote) {
            await registry.promote(name, flags.actor);
          } else if (flags.abort) {
            await registry.abortRollout(name, flags.actor);
          }
          return catalogState(registry, name);
        });
        const live = flags.server ? await fetchLive(flags.server, name, flags.apiKey ?? process.env.BERTH_API_KEY) : undefined;
        if (flags.json) {
          process.stdout.write(JSON.stringify(live ? { ...state, live } : state, null, 2) + '\n');
        } else {
          process.stdout.write(formatState(state) + (live ? formatLive(flags.server!, live) : ''));
        }
      } catch (err) {
        fail(err);
      }
    });

  common(program
    .command('rollback')
    .description('return the production alias to the previous production version, in one step')
    .argument('<name>', 'registered model name'))
    .action(async (name: string, flags: CommonFlags) => {
      try {
        const state = await withRegistry(flags, async (registry) => {
          await registry.rollback(name, flags.actor);
          return catalogState(registry, name);
        });
        process.stdout.write(flags.json ? JSON.stringify(state, null, 2) + '\n' : formatState(state));
      } catch (err) {
        fail(err);
      }
    });
}
