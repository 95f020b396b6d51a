/**
 * npm run dead-letters -- list            records ClickHouse refused, with the reason
 * npm run dead-letters -- replay --all    queue them again (after fixing the cause)
 * npm run dead-letters -- replay ID...    only these
 */
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '../config/env.js';
import { cliClickHouse } from '../clickhouse/cli-client.js';
import { createIngestQueue } from '../queue/jobs.js';
import { listDeadLetters, replayDeadLetters } from '../workers/dead-letters.js';
import { readPipelineInfo } from './pipeline-info.js';

const [command, ...rest] = process.argv.slice(2);
const config = loadConfigOrExit();
const { client } = await cliClickHouse(config);
try {
  const letters = await listDeadLetters(client, config.CLICKHOUSE_DATABASE, 100_000);
  if (command === 'list' || command === undefined) {
    if (letters.length === 0) console.log('no dead letters');
    for (const l of letters) console.log(`${l.id}\t${l.failed_at}\t${l.table_name}\tbatch ${l.batch_id}\n  ${l.error.split('\n')[0]}\n  ${l.row}`);
  } else if (command === 'replay') {
    const chosen = rest.includes('--all') ? letters : letters.filter((l) => rest.includes(l.id));
    if (chosen.length === 0) throw new Error('nothing to replay: name dead-letter ids, or --all');
    const redisUrl = config.REDIS_URL ?? readPipelineInfo(config.CLICKHOUSE_DATA_DIR)?.redis_url;
    if (!redisUrl) throw new Error('REDIS_URL is not set and no running `npm start` was found');
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    const queue = createIngestQueue(redis, config.QUEUE_PREFIX);
    try {
      const r = await replayDeadLetters(client, config.CLICKHOUSE_DATABASE, queue, chosen);
      console.log(`replayed ${r.replayed} record(s) in ${r.jobs} job(s)`);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  } else {
    throw new Error(`unknown command '${command}': use list or replay`);
  }
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await client.close();
}
