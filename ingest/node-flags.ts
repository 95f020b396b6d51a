/**
 * Node flags ingest runs with, wherever it is started (npm run ingest, npm start, the benchmark,
 * the Docker image and compose files; a test keeps them equal). A 500-record batch allocates a few
 * MB of short-lived objects (parsed JSON, validated records, rows); a 64 MiB young generation lets
 * them die there instead of being copied and promoted: 5-27% less ingest CPU per record in the
 * benchmark (docs/performance.md).
 */
export const ingestNodeFlags = ['--max-semi-space-size=64'] as const;
