/**
 * Standalone: npx tsx producer/bench-cli.ts [runs=5] [requests=20000]
 * Prints each run and the median of the added latency (target: p99 under 0.2 ms).
 */
import { measureMiddlewareOverhead, type OverheadResult } from './bench.js';

const runs = Number(process.argv[2] ?? 5);
const requests = Number(process.argv[3] ?? 20_000);
const results: OverheadResult[] = [];
for (let i = 0; i < runs; i++) {
  const r = await measureMiddlewareOverhead({ requests });
  results.push(r);
  console.log(`run ${i + 1}: baseline p50 ${r.baseline.p50} p99 ${r.baseline.p99} | with middleware p50 ${r.instrumented.p50} p99 ${r.instrumented.p99} | added p50 ${r.added.p50} ms, p99 ${r.added.p99} ms, on CPU p99 ${r.addedOnCpu.p99} ms (${r.shipped} records shipped)`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p50 = median(results.map((r) => r.added.p50));
const p99 = median(results.map((r) => r.added.p99));
console.log(`middleware overhead (median of ${runs} runs, ${requests} requests each): p50 +${p50} ms, p99 +${p99} ms (target p99 < 0.2 ms): ${p99 < 0.2 ? 'OK' : 'OVER TARGET'}`);
