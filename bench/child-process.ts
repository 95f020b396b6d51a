import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ingestNodeFlags } from '../ingest/node-flags.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A TypeScript entry point of this repo as its own Node process (tsx), optionally CPU-profiled. */
export function spawnTs(
  entry: string,
  env: Record<string, string | undefined>,
  opts: { cpuProfileDir?: string; stdout?: 'pipe' | 'ignore' } = {},
): ChildProcess {
  const args: string[] = entry === 'ingest/server.ts' ? [...ingestNodeFlags] : [];
  args.push('--import', 'tsx');
  if (opts.cpuProfileDir) args.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir);
  args.push(join(repoRoot, entry));
  return spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit'],
  });
}

/** The first line a child prints on stdout. */
export function firstLine(child: ChildProcess, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('child printed nothing in time')), timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(text.slice(0, nl).trim());
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing`)));
  });
}

/** SIGTERM, then SIGKILL if it does not exit within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
