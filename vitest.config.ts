import { defineConfig } from 'vitest/config';

// chdb binds one data directory per process: each test file runs in its own forked process.
export default defineConfig({
  test: {
    pool: 'forks',
    poolOptions: { forks: { singleFork: false } },
    globalSetup: ['test/setup/redis.ts', 'test/setup/tmp.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
