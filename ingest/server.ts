import { loadConfigOrExit } from '../config/env.js';
import { createLogger } from '../lib/logger.js';
import { startIngest } from './runtime.js';
import { stopOnSignals } from '../lib/supervision.js';

const config = loadConfigOrExit();
const logger = createLogger('ingest', config.LOG_LEVEL);

startIngest(config, logger).then(
  (ingest) => stopOnSignals(logger, () => ingest.stop()),
  (err: Error) => {
    process.stderr.write(`ingest failed to start: ${err.message}\n`);
    process.exit(1);
  },
);
