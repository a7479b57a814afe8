/**
 * `berth serve PATH...`: serve models over the Open Inference Protocol. Its options are the
 * configuration schema's keys (config/schema.ts via cli/config-flags.ts); `--config FILE` reads
 * the same keys from YAML or JSON, and flags given on the command line override the file.
 */
import type { Command } from 'commander';
import { createServerLogger } from '../../http/auth.js';
import { startServer } from '../../server.js';
import { loadConfig } from '../../config/load.js';
import { addConfigOptions, configFromFlags, helpText, pathsLeaf } from '../config-flags.js';

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('serve models over the Open Inference Protocol (REST) and the V1 predict API')
    .argument('[paths...]', helpText(pathsLeaf()))
    .option('--config <file>', 'read the configuration from a YAML or JSON file (docs/configuration.md); flags override it');
  addConfigOptions(command);
  command.action(async (paths: string[], options: { config?: string }, cmd: Command) => {
    const flags = configFromFlags(cmd);
    if (paths.length > 0) flags.paths = paths;
    const config = await loadConfig({ file: options.config, flags });
    const logger = createServerLogger(config.logLevel);
    // with nothing to serve, `berth serve` shows the bundled example
    const example = config.example || (config.paths.length === 0 && !config.registry.enabled);
    const server = await startServer({ ...config, example, logger });
    logger.info({ url: server.url, grpc_port: server.grpcPort, models: server.service.modelNames() }, `berth serving on ${server.url}${server.grpcPort ? ` (gRPC on port ${server.grpcPort})` : ''}`);
    // The drain (docs/fleet.md): readiness fails at once; inference is served for --drain-delay
    // (endpoint removal reaching balancers and kube-proxy takes seconds, and requests they
    // still send here must not fail); then new connections are refused, idle keep-alive ones
    // closed, and requests in flight finish within --drain-timeout, else exit 1. A second
    // signal is the operator insisting: exit at once.
    const drainTimeoutSecs = config.drainTimeoutSecs ?? config.exitTimeoutSecs;
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.error({ signal }, 'second signal while draining: exiting now, requests in flight are cut');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, drain_delay_secs: config.drainDelaySecs, drain_timeout_secs: drainTimeoutSecs }, 'draining: readiness is false, finishing in-flight requests');
      server.beginDrain();
      setTimeout(finish, config.drainDelaySecs * 1000);
    };
    const finish = (): void => {
      if (config.drainDelaySecs > 0) logger.info({ drain_timeout_secs: drainTimeoutSecs }, 'drain delay over: refusing new connections, finishing in-flight requests');
      setTimeout(() => {
        logger.error({ drain_timeout_secs: drainTimeoutSecs }, 'in-flight requests did not finish within the drain timeout; exiting');
        process.exit(1);
      }, drainTimeoutSecs * 1000).unref();
      server.close().then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
