import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

// Secrets posted by a careless producer never reach ClickHouse (the stage runs before queueing).
let p: TestPipeline;
beforeAll(async () => {
  p = await startTestPipeline({ REDACTION_MODE: 'hash', REDACTION_HASH_KEY: 'test-hash-key', REDACTION_KEYS: 'national_id' });
});
afterAll(async () => {
  await p?.close();
});

describe('redaction in the pipeline', () => {
  it('stores error bodies, messages and webhook payloads without the secrets, matchable by hash', async () => {
    const secrets = ['hunter2', 'maria@example.com', '4111 1111 1111 1111', '529.982.247-25', 'AB-123-CD'];
    const log = (id: string) => ({
      request_id: id,
      timestamp: Date.now(),
      method: 'POST',
      endpoint: '/api/links/',
      status_code: 401,
      error: { code: 'login_error', message: 'invalid credentials for maria@example.com' },
      response_body: { code: 'login_error', request: { username: 'maria', password: 'hunter2', national_id: 'AB-123-CD' } },
    });
    expect((await p.post('logs', [log('red-1'), log('red-2')])).status).toBe(202);
    const attempt = {
      webhook_id: 'wh-red',
      event: 'new_accounts_available',
      type: 'ACCOUNTS',
      link_id: 'l1',
      attempt: 1,
      url: 'https://hooks.example.com/in?api_key=sk_live_123',
      status_code: 200,
      timestamp: Date.now(),
      payload: { holder: { cpf: '529.982.247-25 ' }, card: 'card 4111 1111 1111 1111' },
    };
    expect((await p.post('webhook-attempts', [attempt])).status).toBe(202);
    await p.waitForIdle();

    const logs = await p.rows<{ error_message: string; response_body: string }>(
      `SELECT error_message, response_body FROM ${p.database}.request_logs ORDER BY request_id`,
    );
    const hooks = await p.rows<{ url: string; payload: string }>(`SELECT url, payload FROM ${p.database}.webhook_attempts`);
    const stored = JSON.stringify([logs, hooks]);
    for (const s of [...secrets, 'sk_live_123']) expect(stored).not.toContain(s);
    // equal values hash equally: both logs carry the same e-mail hash, so support can still correlate
    expect(logs[0]!.error_message).toMatch(/^invalid credentials for \[email:[0-9a-f]{12}\]$/);
    expect(logs[1]!.error_message).toBe(logs[0]!.error_message);
    expect(JSON.parse(logs[0]!.response_body).request).toEqual({
      username: 'maria',
      password: expect.stringMatching(/^\[secret:[0-9a-f]{12}\]$/),
      national_id: expect.stringMatching(/^\[secret:[0-9a-f]{12}\]$/),
    });
    expect(JSON.parse(hooks[0]!.payload)).toEqual({
      holder: { cpf: expect.stringMatching(/^\[cpf:[0-9a-f]{12}\] $/) },
      card: expect.stringMatching(/^card \[card:[0-9a-f]{12}\]$/),
    });
  });
});
