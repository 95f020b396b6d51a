import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { startIngest } from '../../ingest/runtime.js';
import { messages } from '../../ingest/otlp/proto.js';
import { freePort, startLocalRedis } from '../../scripts/local-redis.js';
import { testConfig } from '../helpers/pipeline.js';
import { sdkSpans, serverSpan } from './sdk-spans.js';

// With Redis down an export is refused with 503 and Retry-After (a code OTLP exporters retry),
// its body a protobuf google.rpc.Status; once Redis is back the same export is accepted.
describe('an OTLP export while Redis is down', () => {
  it('gets 503 with Retry-After and a Status, then 200 once Redis is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'obs-otlp-redis-'));
    const port = await freePort();
    let redis = await startLocalRedis({ dir, port });
    const ingest = await startIngest(testConfig({ REDIS_URL: redis.url }), createLogger('test', 'silent'));
    try {
      const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(sdkSpans([serverSpan('/api/balances/', 200, Date.now())]))!);
      const post = () =>
        fetch(`${ingest.url}/otlp/v1/traces`, { method: 'POST', headers: { Authorization: 'Bearer test-key-1', 'Content-Type': 'application/x-protobuf' }, body });

      redis.process.kill('SIGKILL');
      await new Promise((r) => redis.process.once('exit', r));
      const down = await post();
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(down.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
      const status = messages.status.toObject(messages.status.decode(new Uint8Array(await down.arrayBuffer()))) as { code: number; message: string };
      expect(status).toMatchObject({ code: 14, message: 'the queue (Redis) is unreachable; retry later' }); // UNAVAILABLE

      redis = await startLocalRedis({ dir, port });
      let res = await post();
      for (let tries = 0; res.status === 503 && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        res = await post();
      }
      expect(res.status).toBe(200);
    } finally {
      await ingest.stop();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
