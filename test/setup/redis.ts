import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRedis, type LocalRedis } from '../../scripts/local-redis.js';

// One real redis-server for the whole run unless REDIS_URL is given; files isolate by key prefix.
let redis: LocalRedis | undefined;
let dir: string | undefined;

export async function setup() {
  if (process.env.REDIS_URL) return;
  dir = mkdtempSync(join(tmpdir(), 'obs-test-redis-'));
  redis = await startLocalRedis({ dir });
  process.env.REDIS_URL = redis.url;
}

export async function teardown() {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
