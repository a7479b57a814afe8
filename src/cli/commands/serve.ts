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
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'draining: readiness is false, finishing in-flight requests');
      setTimeout(() => {
        logger.error({ exit_timeout_secs: config.exitTimeoutSecs }, 'in-flight requests did not finish in time; exiting');
        process.exit(1);
      }, config.exitTimeoutSecs * 1000).unref();
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
