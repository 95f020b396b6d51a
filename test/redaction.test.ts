import { describe, expect, it } from 'vitest';
import { clabeValid, cnpjValid, cpfValid, createRedactor, luhnValid } from '../ingest/stages/redaction.js';

// The corpus: what must be hidden, and look-alikes that must stay readable for debugging.
const mask = createRedactor({ mode: 'mask' });
const hash = createRedactor({ mode: 'hash', hashKey: 'k1' });

const sensitive: [string, string][] = [
  ['bearer', 'Authorization failed for Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x'],
  ['email', 'user maria.silva+bank@example.com.br could not log in'],
  ['card', 'card 4111 1111 1111 1111 declined'],
  ['card', 'pan=5500-0000-0000-0004'],
  ['cpf', 'CPF 529.982.247-25 is blocked'],
  ['cpf', 'cpf 52998224725'],
  ['cnpj', 'company 11.222.333/0001-81'],
  ['clabe', 'CLABE 032180000118359719 rejected'],
  ['curp', 'CURP BADD110313HCMLNS09 not found'],
  ['rfc', 'RFC GODE561231GR8 invalid'],
];

const lookAlikes = [
  'request 3dc204d7ef12ff4f71152ad807307f19 failed',
  'at 2026-11-20T10:00:00.000Z',
  'order 4111111111111112 (fails Luhn)',
  'cpf-like 529.982.247-24 (wrong check digits)',
  'cnpj-like 11.222.333/0001-80',
  'clabe-like 032180000118359718',
  'amount 1234567.89 BRL',
  'A MFA token is required by the institution to login',
];

describe('redaction corpus', () => {
  it.each(sensitive)('hides a %s inside text', (kind, text) => {
    const out = mask.text(text);
    expect(out).toContain(`[redacted:${kind}]`);
    // nothing of the secret's digits or address survives
    const secret = text.match(/\S+@\S+|Bearer \S+|[\d.\-/ ]{11,}|[A-Z]{4}\d{6}\w+/)![0].trim();
    expect(out).not.toContain(secret);
  });

  it.each(lookAlikes)('leaves a look-alike readable: %s', (text) => {
    expect(mask.text(text)).toBe(text);
  });

  it('replaces the values of sensitive keys at any depth, and keeps the rest', () => {
    const body = {
      code: 'login_error',
      message: 'invalid credentials provided to login to the institution',
      request: { username: 'maria', Password: 'hunter2', 'api-key': 'ak_123', nested: [{ access_token: { raw: 'x' } }] },
    };
    expect(mask.value(body)).toEqual({
      code: 'login_error',
      message: 'invalid credentials provided to login to the institution',
      request: { username: 'maria', Password: '[redacted:secret]', 'api-key': '[redacted:secret]', nested: [{ access_token: '[redacted:secret]' }] },
    });
  });

  it('hashes stably with a key, so the same value can still be matched', () => {
    const a = hash.text('contact maria@example.com');
    expect(a).toMatch(/^contact \[email:[0-9a-f]{12}\]$/);
    expect(hash.text('again maria@example.com')).toBe(`again ${a.slice('contact '.length)}`);
    expect(createRedactor({ mode: 'hash', hashKey: 'k2' }).text('contact maria@example.com')).not.toBe(a);
    expect(() => createRedactor({ mode: 'hash' })).toThrow(/needs a key/);
  });

  it('redacts sensitive query parameters of webhook URLs', () => {
    expect(mask.url('https://hooks.example.com/h?token=abc123&customer=acme')).toBe(
      'https://hooks.example.com/h?token=%5Bredacted%3Asecret%5D&customer=acme',
    );
  });

  it('checks digits the way the issuers do', () => {
    expect([luhnValid('4111111111111111'), luhnValid('4111111111111112'), luhnValid('0000000000000000')]).toEqual([true, false, false]);
    expect([cpfValid('529.982.247-25'), cpfValid('111.111.111-11')]).toEqual([true, false]);
    expect([cnpjValid('11.222.333/0001-81'), cnpjValid('11.222.333/0001-82')]).toEqual([true, false]);
    expect([clabeValid('032180000118359719'), clabeValid('032180000118359710')]).toEqual([true, false]);
  });
});
