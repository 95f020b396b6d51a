import { loadConfigOrExit } from '../config/env.js';
import { createLogger } from '../lib/logger.js';
import { startWorkerRuntime } from './runtime.js';
import { startQueryEndpoint } from './query-endpoint.js';
import { clickhouseMode } from '../clickhouse/client.js';
import { stopOnSignals } from '../lib/supervision.js';
import { startAdminServer } from '../lib/admin-server.js';
import { lowerPriority, setSchedPolicy } from '../lib/priority.js';

const config = loadConfigOrExit();
const logger = createLogger('worker', config.LOG_LEVEL);

async function main() {
  // before the engine starts its threads, so they inherit it
  lowerPriority(config.WORKER_NICE, (err) => logger.warn({ err: err.message }, 'could not lower the worker priority'));
  setSchedPolicy(config.WORKER_SCHED, (err) => logger.warn({ err: err.message }, 'could not set the worker scheduling policy'));
  const runtime = await startWorkerRuntime(config, logger);
  // Embedded mode: this process owns the data directory, so it answers ad-hoc SQL for others.
  const endpoint = clickhouseMode(config) === 'embedded' ? await startQueryEndpoint(config, logger) : undefined;
  const admin = await startAdminServer({
    host: config.ADMIN_HOST,
    port: config.WORKER_ADMIN_PORT,
    token: config.ADMIN_TOKEN,
    routes: { healthz: () => runtime.liveness.check(), metrics: () => runtime.metrics.registry.render() },
  });
  if (admin) logger.info({ url: admin.url }, 'admin listener (/healthz, /metrics)');
  stopOnSignals(logger, async () => {
    await admin?.stop();
    await endpoint?.stop();
    await runtime.stop();
  });
}

main().catch((err: Error) => {
  process.stderr.write(`worker failed to start: ${err.message}\n`);
  process.exit(1);
});
