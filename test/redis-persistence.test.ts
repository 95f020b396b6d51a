import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { freePort } from '../scripts/local-redis.js';
import { persistenceProblems, warnIfRedisNotDurable } from '../queue/redis-persistence.js';

/**
 * The start-up check of a user's REDIS_URL: one warning when its settings cannot keep the promise
 * of a 202, none when they can, and a clear one when CONFIG is renamed away (as managed Redis do).
 * Real redis-servers, started with the settings under test.
 */
const dir = mkdtempSync(join(tmpdir(), 'obs-redis-persistence-'));
const servers: ChildProcess[] = [];
const clients: Redis[] = [];
afterAll(() => {
  for (const c of clients) c.disconnect();
  for (const s of servers) s.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function redisWith(args: string[]): Promise<Redis> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendfilename', `a${port}.aof`, ...args], {
    stdio: 'ignore',
  });
  servers.push(server);
  for (let i = 0; ; i++) {
    const client = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      clients.push(client);
      return client;
    } catch {
      client.disconnect();
      if (i > 100) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The warnings warnIfRedisNotDurable logs, once it has had time to check. */
async function warningsFor(redis: Redis): Promise<{ msg: string; problems?: string[]; unread?: string[] }[]> {
  const lines: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  warnIfRedisNotDurable(redis, logger);
  await new Promise((r) => setTimeout(r, 300));
  return lines.map((l) => JSON.parse(l) as { msg: string; problems?: string[]; unread?: string[] });
}

describe('the Redis persistence check at start-up', () => {
  it('says nothing for a Redis set as deploy/redis/redis.conf sets it', async () => {
    const redis = await redisWith(['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction']);
    expect(await warningsFor(redis)).toEqual([]);
  });

  it('warns once, naming each setting that breaks the promise and what it costs', async () => {
    const redis = await redisWith(['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'allkeys-lru']);
    const warnings = await warningsFor(redis);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.problems).toEqual([
      expect.stringMatching(/^appendfsync everysec \(needs always\): kill -9 or a crash of Redis can lose batches/),
      expect.stringMatching(/^maxmemory-policy allkeys-lru \(needs noeviction\): a full Redis evicts queued batches/),
    ]);
    expect(warnings[0]!.msg).toContain('Redis cannot keep the promise of a 202');
  });

  it('falls back to INFO when CONFIG is renamed away, and says what it could not read', async () => {
    const redis = await redisWith(['--appendonly', 'no', '--rename-command', 'CONFIG', '']);
    const warnings = await warningsFor(redis);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.problems).toEqual([expect.stringMatching(/^appendonly no \(needs yes\): a restart of Redis loses every queued batch/)]);
    expect(warnings[0]!.unread).toEqual(['appendfsync']);
  });

  it('lists nothing for settings it could not read', () => {
    expect(persistenceProblems({ 'maxmemory-policy': 'noeviction' })).toEqual([]);
  });
});
