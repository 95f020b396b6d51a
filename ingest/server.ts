import { loadConfigOrExit } from '../config/env.js';
import { createLogger } from '../lib/logger.js';
import { startIngest } from './runtime.js';
import { exitWithParent } from '../lib/supervision.js';

const config = loadConfigOrExit();
const logger = createLogger('ingest', config.LOG_LEVEL);

startIngest(config, logger).then(
  (ingest) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      ingest.stop().then(
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
  },
  (err: Error) => {
    process.stderr.write(`ingest failed to start: ${err.message}\n`);
    process.exit(1);
  },
);
