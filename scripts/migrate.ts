/** npm run migrate: applies sql/ migrations (the worker also does at start-up). */
import { loadConfigOrExit } from '../config/env.js';
import { cliClickHouse } from '../clickhouse/cli-client.js';
import { migrate } from '../clickhouse/migrate.js';

const config = loadConfigOrExit();
const { client, via } = await cliClickHouse(config);
try {
  const ran = await migrate(client, {
    database: config.CLICKHOUSE_DATABASE,
    rawTtlDays: config.RAW_TTL_DAYS,
    cluster: config.CLICKHOUSE_CLUSTER,
    // Only with the data directory opened here does nothing else insert (a running worker is reached via its endpoint).
    exclusive: via === 'data-directory',
    log: (l) => console.log(l),
  });
  console.log(ran.length ? `applied ${ran.length} migration(s) via ${via}` : `schema up to date (${via})`);
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
