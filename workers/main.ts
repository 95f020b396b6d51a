import { loadConfigOrExit } from '../config/env.js';
import { createLogger } from '../lib/logger.js';
import { startWorkerRuntime } from './runtime.js';
import { startQueryEndpoint } from './query-endpoint.js';
import { clickhouseMode } from '../clickhouse/client.js';
import { exitWithParent } from '../lib/supervision.js';

const config = loadConfigOrExit();
const logger = createLogger('worker', config.LOG_LEVEL);

async function main() {
  const runtime = await startWorkerRuntime(config, logger);
  // Embedded mode: this process owns the data directory, so it answers ad-hoc SQL for others.
  const endpoint = clickhouseMode(config) === 'embedded' ? await startQueryEndpoint(config, logger) : undefined;
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight writes');
    (async () => {
      await endpoint?.stop();
      await runtime.stop();
    })().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  exitWithParent(() => shutdown('supervisor exited'));
}

main().catch((err: Error) => {
  process.stderr.write(`worker failed to start: ${err.message}\n`);
  process.exit(1);
});
