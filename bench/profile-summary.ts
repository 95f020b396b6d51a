import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './child-process.js';

/**
 * Summarises V8 .cpuprofile files (node --cpu-prof, written by `npm run bench -- --profile`):
 * self time by function and by package/file, the figures docs/performance.md quotes.
 *   npx tsx bench/profile-summary.ts <dir-or-file> [top=25]
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (path.startsWith('node:')) return path;
  return relative(repoRoot, path);
}

export function summariseProfile(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => ['(idle)', '(program)', '(garbage collector)'].includes(byId.get(id)!.callFrame.functionName));
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const k = f.url ? where(f.url) : f.functionName;
    pkg.set(k, (pkg.get(k) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled; ${idle.map(([id, us]) => `${byId.get(id)!.callFrame.functionName} ${pct(us).trim()}`).join(', ')}`,
    '  by package / file:',
    ...[...pkg].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, us]) => `   ${pct(us)} ${k}`),
    '  by function (self time):',
    ...[...fn].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `   ${pct(us)} ${k}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts <dir-or-file> [top]\n');
    process.exit(2);
  }
  const files = statSync(target).isDirectory()
    ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f))
    : [target];
  for (const f of files) process.stdout.write(`${summariseProfile(f, Number(process.argv[3] ?? 25))}\n\n`);
}
