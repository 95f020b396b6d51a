import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** What `npm start` tells the other commands (sql, dead-letters): where its private services listen. */
export interface PipelineInfo {
  pid: number;
  redis_url: string;
  ingest_url: string;
  api_key: string;
}

export const pipelineInfoFile = (dataDir: string) => join(dirname(resolve(dataDir)), 'pipeline.json');

export function writePipelineInfo(dataDir: string, info: PipelineInfo): void {
  writeFileSync(pipelineInfoFile(dataDir), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
}

export function readPipelineInfo(dataDir: string): PipelineInfo | undefined {
  const file = pipelineInfoFile(dataDir);
  if (!existsSync(file)) return undefined;
  const info = JSON.parse(readFileSync(file, 'utf8')) as PipelineInfo;
  try {
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined; // npm start is no longer running
  }
}

export function removePipelineInfo(dataDir: string): void {
  rmSync(pipelineInfoFile(dataDir), { force: true });
}
