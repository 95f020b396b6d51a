/**
 * Node flags ingest runs with, wherever it is started (npm run ingest, npm start, the benchmark,
 * the Docker image and compose files; a test keeps them equal).
 * - A 500-record batch allocates a few MB of short-lived objects (parsed JSON, validated records,
 *   rows); a 64 MiB young generation lets them die there instead of being copied and promoted:
 *   5-27% less ingest CPU per record in the benchmark.
 * - Each request also makes a few strings over 128 KiB (the body's text, the rows' text, the Redis
 *   command), which V8 puts straight in the old generation. With its default limit, sized from
 *   ingest's small live heap (~25 MB), that forced a full collection every ~1 s at half the
 *   sustained rate, and ~40% of the slowest 1% of requests sat in one. A 128 MiB floor for the old
 *   generation makes that one per ~13 s: p99 18-20 ms against 23-26, for ~10 MiB more RSS
 *   (docs/performance.md, section 23).
 */
export const ingestNodeFlags = ['--max-semi-space-size=64', '--initial-old-space-size=128'] as const;
