import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { DURABLE_REDIS } from '../queue/redis-persistence.js';

/**
 * A private redis-server for `npm start`, the tests and the bench: AOF fsynced before every reply
 * (queue/redis-persistence.ts DURABLE_REDIS), noeviction, loopback only.
 */
export interface LocalRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Installs Debian's redis-server when missing and we are root; otherwise says what to install. */
export function ensureRedisServerInstalled(log: (l: string) => void = console.log): void {
  if (hasRedisServer()) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('redis-server is not installed: run `sudo apt-get install -y redis-server`, or set REDIS_URL');
  }
  log('redis-server not found: installing Debian package redis-server');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit', env });
  if (r.status !== 0 || !hasRedisServer()) throw new Error('installing redis-server failed');
}

/** A private redis-server left running by a supervisor that was killed would hold the AOF: stop it. */
async function stopStaleRedis(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  })();
  if (!pid || !cmdline.includes('redis-server')) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `detached`: its own process group, so a Ctrl-C in the terminal (SIGINT to the whole foreground
 * group) does not stop Redis before the worker has written and completed what it holds; the
 * caller stops it last.
 */
export async function startLocalRedis(opts: {
  dir: string;
  port?: number;
  detached?: boolean;
  /** Only to measure what the guarantee costs (bench `--redis-appendfsync=everysec`): anything but 'always' can lose a 202. */
  appendfsync?: 'always' | 'everysec';
}): Promise<LocalRedis> {
  ensureRedisServerInstalled();
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  await stopStaleRedis(join(dir, 'redis.pid'));
  const port = opts.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      // always: Redis writes and fsyncs the AOF before it replies. With everysec it may postpone the
      // write while a background fsync runs and reply anyway, so kill -9 lost acknowledged batches.
      '--appendonly', DURABLE_REDIS.appendonly,
      '--appendfsync', opts.appendfsync ?? DURABLE_REDIS.appendfsync,
      '--maxmemory-policy', DURABLE_REDIS['maxmemory-policy'],
      // above ingest's default QUEUE_MAX_BYTES (512 MiB): ingest answers 429 before Redis refuses writes
      '--maxmemory', '1gb',
      '--save', '',
      '--protected-mode', 'yes',
      '--daemonize', 'no',
      '--pidfile', join(dir, 'redis.pid'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: opts.detached ?? false },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline) throw new Error('redis-server did not start within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    process: child,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}
