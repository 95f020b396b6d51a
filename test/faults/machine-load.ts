import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/**
 * A loaded machine, as when the loss showed up (the fault tests beside other work on the
 * disk): busy-loop children for the CPU, and a writer child that dirties page cache and fsyncs on
 * the filesystem Redis writes its AOF to, so Redis's own fsyncs queue behind it. Every child is
 * killed by stop() and, as a backstop, exits by itself after `maxMs`.
 */
export interface MachineLoad {
  stop(): void;
}

const BUSY_LOOP = 'const end = Date.now() + Number(process.argv[1]); while (Date.now() < end) {}';

// 8 MiB writes, an fsync every 4 of them; the file is truncated every 256 MiB so the disk use is bounded.
const DISK_WRITER = `
const fs = require('node:fs');
const [file, ms] = [process.argv[1], Number(process.argv[2])];
const end = Date.now() + ms;
const chunk = Buffer.alloc(8 << 20, 7);
const fd = fs.openSync(file, 'w');
for (let i = 1; Date.now() < end; i++) {
  fs.writeSync(fd, chunk);
  if (i % 4 === 0) fs.fsyncSync(fd);
  if (i % 32 === 0) fs.ftruncateSync(fd, 0);
}
fs.closeSync(fd);
fs.rmSync(file, { force: true });
`;

export function startMachineLoad(o: { dir: string; busyLoops: number; maxMs: number }): MachineLoad {
  const children: ChildProcess[] = [];
  for (let i = 0; i < o.busyLoops; i++) children.push(spawn(process.execPath, ['-e', BUSY_LOOP, String(o.maxMs)], { stdio: 'ignore' }));
  children.push(spawn(process.execPath, ['-e', DISK_WRITER, join(o.dir, 'disk-load.bin'), String(o.maxMs)], { stdio: 'ignore' }));
  return {
    stop() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}
