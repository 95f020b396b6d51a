import { readFileSync } from 'node:fs';
import { chartsDirOf, writeCharts } from '../charts.js';
import type { BenchReport } from '../report.js';

/**
 * `npm run bench:charts -- <report.json> [--out=<dir>]`: renders the charts of an existing bench
 * report, by default into `<report>-charts/` beside it (where `npm run bench` writes them).
 */
async function main() {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) throw new Error('usage: npm run bench:charts -- <report.json> [--out=<dir>]');
  const out = args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? chartsDirOf(file);
  const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  if (report.version !== 1 || !report.summary) throw new Error(`${file} is not a bench report (version 1)`);
  const files = await writeCharts(report, out);
  process.stdout.write(files.length ? `${files.join('\n')}\n` : `${file} has no phase with a chart (ramp, latency, queries, soak)\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench:charts: ${err.message}\n`);
  process.exit(1);
});
