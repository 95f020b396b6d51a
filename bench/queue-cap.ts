import { httpAgent, post } from './http-load.js';
import type { RunningPipeline } from './pipeline-processes.js';
import type { Progress } from './progress.js';
import { round } from './stats.js';
import { kindNames, recordKinds } from '../schema/records.js';
import type { TrafficPool } from './traffic-pool.js';

/**
 * Redis memory at the queue cap, measured rather than projected: the worker is paused (SIGSTOP),
 * the pool's bodies are posted as fast as ingest takes them until it answers 429 backpressure, and
 * Redis `used_memory` is compared with QUEUE_MAX_BYTES. Then the worker resumes and drains the
 * backlog alone: how fast one worker catches up, with ingest idle, and a check that every accepted
 * record landed.
 */
export interface QueueCapResult {
  capBytesMiB: number;
  capJobs: number;
  acceptedRequests: number;
  acceptedRecords: number;
  /** Redis used_memory when ingest first answered 429, and the most seen */
  redisAtFirst429MiB: number;
  redisMaxMiB: number;
  /** how far over the cap Redis went (ingest checks memory at most every 250 ms) */
  overshootMiB: number;
  backpressure429: number;
  otherErrors: number;
  /** the paused worker's backlog, written with ingest idle */
  drainSeconds: number;
  drainRecordsPerSecond: number;
  allLanded: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureQueueCap(o: { pipeline: RunningPipeline; pool: TrafficPool; maxInFlight: number; timeoutMs: number; progress: Progress }): Promise<QueueCapResult> {
  const p = o.pipeline;
  const label = 'queue cap';
  const mib = (b: number) => round(b / 2 ** 20);
  const db = p.config.CLICKHOUSE_DATABASE;
  const countAll = async () => {
    const tables = kindNames.map((k) => recordKinds[k].table);
    const r = await p.clickhouse.query({ query: `SELECT (${tables.map((t) => `(SELECT count() FROM ${db}.${t})`).join(' + ')}) AS n`, format: 'JSONEachRow' });
    return Number((await r.json<{ n: string | number }>())[0]!.n);
  };
  const before = await countAll();
  p.worker.kill('SIGSTOP');
  let acceptedRequests = 0;
  let acceptedRecords = 0;
  let backpressure429 = 0;
  let otherErrors = 0;
  let redisAtFirst429 = 0;
  let redisMax = 0;
  let full = false;
  const agent = httpAgent(o.maxInFlight);
  const headers = { Authorization: `Bearer ${p.apiKey}` };
  let cursor = 0;
  const deadline = Date.now() + o.timeoutMs;
  try {
    const sampler = (async () => {
      while (!full && Date.now() < deadline) {
        redisMax = Math.max(redisMax, (await p.redisMemoryBytes()).used);
        o.progress.update(`${label}: worker paused, ${acceptedRequests} batches queued, Redis ${mib(redisMax)} MiB`);
        await sleep(100);
      }
    })();
    const client = async () => {
      while (!full && Date.now() < deadline) {
        const body = o.pool.bodies[cursor++ % o.pool.bodies.length]!;
        const r = await post(agent, new URL(body.path, p.ingestUrl), body.body, headers).catch(() => undefined);
        if (r?.status === 202) {
          acceptedRequests++;
          acceptedRecords += body.records;
        } else if (r?.status === 429) {
          backpressure429++;
          if (!redisAtFirst429) redisAtFirst429 = (await p.redisMemoryBytes()).used;
          // a few more to be sure it holds, then stop
          if (backpressure429 >= 3 * o.maxInFlight) full = true;
        } else otherErrors++;
      }
    };
    await Promise.all(Array.from({ length: o.maxInFlight }, client));
    full = true;
    await sampler;
    redisMax = Math.max(redisMax, (await p.redisMemoryBytes()).used);
  } finally {
    agent.destroy();
    p.worker.kill('SIGCONT');
  }
  const drainStart = Date.now();
  let landed = await countAll();
  while (landed - before < acceptedRecords && Date.now() - drainStart < o.timeoutMs) {
    o.progress.update(`${label}: worker draining, ${landed - before} of ${acceptedRecords} records written`);
    await sleep(250);
    landed = await countAll();
  }
  const drainSeconds = (Date.now() - drainStart) / 1000;
  return {
    capBytesMiB: mib(p.config.QUEUE_MAX_BYTES),
    capJobs: p.config.QUEUE_MAX_JOBS,
    acceptedRequests,
    acceptedRecords,
    redisAtFirst429MiB: mib(redisAtFirst429),
    redisMaxMiB: mib(redisMax),
    overshootMiB: mib(Math.max(0, redisMax - p.config.QUEUE_MAX_BYTES)),
    backpressure429,
    otherErrors,
    drainSeconds: round(drainSeconds),
    drainRecordsPerSecond: round(acceptedRecords / drainSeconds),
    allLanded: landed - before === acceptedRecords,
  };
}
