import { createHmac } from 'node:crypto';
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

/**
 * The redactor skips a pattern when a string lacks what every match of it contains (a clue).
 * Reference: every pattern applied to every string, in the same order. The clues must never
 * change a result, so strings at each clue's edge are compared, and many built from fragments.
 */
describe('redaction clues only skip work', () => {
  const hmac = (key: string, v: string) => createHmac('sha256', key).update(v).digest('hex').slice(0, 12);
  const referencePatterns: [string, RegExp, ((m: string) => boolean)?][] = [
    ['bearer', /\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi],
    ['email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g],
    ['curp', /\b[A-Z][AEIOUX][A-Z]{2}\d{6}[HM][A-Z]{5}[A-Z0-9]\d\b/g],
    ['rfc', /\b[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}\b/g],
    ['clabe', /\b\d{18}\b/g, clabeValid],
    ['cnpj', /\b\d{2}\.?\d{3}\.?\d{3}\/?\d{4}-?\d{2}\b/g, cnpjValid],
    ['cpf', /\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b/g, cpfValid],
    ['card', /\b\d(?:[ -]?\d){12,18}\b/g, luhnValid],
  ];
  const reference = (hashKey?: string) => (s: string) =>
    referencePatterns.reduce(
      (out, [name, re, valid]) =>
        out.replace(re, (m) => (valid && !valid(m) ? m : hashKey ? `[${name}:${hmac(hashKey, m)}]` : `[redacted:${name}]`)),
      s,
    );
  const edges = [
    // bearer: any case, needs the whole word
    'Bearer abc', 'bearer abc', 'BEARER abc', 'bEaReR x.y-z', 'xBearer abc', 'Bearer\tabc', 'Bearer\u00a0abc', 'beare r abc', 'Bearer', 'Bearer ',
    'bearer' + 'b'.repeat(30), 'B', 'b', 'ſearer ok', 'Ｂearer abc',
    // e-mail
    'a@b.cc', '@', 'a@b', 'x@y.z', 'first.last+tag@sub.example.com.br', '@example.com', 'a@@b.cc',
    // CURP and RFC: capitals right before six digits
    'BADD110313HCMLNS09', 'badd110313hcmlns09', 'ÑAND110313AB1', '&&&110313AB1', 'AB110313XYZ', 'ABC11031XYZ', 'ABC110313XYZ', 'XABC110313XYZ',
    'XXABC110313XYZ', 'ABC 110313XYZ', 'AbC110313XYZ', 'ÑÑÑ110313ÑÑÑ', 'GODE561231GR8', 'GODE561231GR8x', 'N\u0303AB110313XYZ',
    'XÑA110313AB1', 'A&B110313XYZ', 'AB&110313XYZ', 'x&&&110313123', '1&&&110313123', '&&&110313123',
    // numbers: 10 and 11 digits, separators single, doubled and unusual, word boundaries
    '52998224725', '5299822472', '529.982.247-25', '529..982.247-25', '529 982 247 25', '529/982/247/25', '529982247-25 ', 'a52998224725',
    '52998224725a', '_52998224725', 'x-52998224725', '4111 1111 1111 1111', '4111-1111-1111-1111', '4111  1111 1111 1111', '4111111111111111',
    '41111111111111110', '032180000118359719', '0321800001183597190', '11.222.333/0001-81', '11222333000181', '1.2.3.4.5.6.7.8.9.0.1',
    '4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', '5500-0000-0000-0004', '0000000000000', '2f28093f-27f3-5b64-dea35ab434a3', 'b9f6b55d-2eb8-1104-4668742f721b',
    // several at once, and their replacements next to each other
    'contact maria@example.com, card 4111 1111 1111 1111, CPF 529.982.247-25, Bearer tok, RFC GODE561231GR8',
    'maria@example.com4111111111111111', 'Bearer maria@example.com', '52998224725@example.com', 'GODE561231GR8@example.com',
  ];
  const fragments = [
    'Bearer ', 'bearer', 'BEARER', 'beare', 'b', 'B', 'earer', ' ', '\t', '\n', 'abc.def', '@', 'ex.com', 'maria@example.com', 'BADD110313HCMLNS09',
    'GODE561231GR8', 'Ñ', '&', 'GOD', 'AB', 'X', 'x', '529.982.247-25', '52998224725', '11.222.333/0001-81', '032180000118359719',
    '4111 1111 1111 1111', '0', '1', '12', '123', '1234', '12345', '123456', '.', '-', '/', '_', 'HM', 'eyJ.x-y_z~+/=', 'é', 'ſ', 'İ', '\ud83d\ude00', '\ud800',
  ];
  let seed = 42;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const built = Array.from({ length: 4000 }, () => Array.from({ length: 1 + next(8) }, () => fragments[next(fragments.length)]).join(''));

  it.each([
    ['mask', undefined],
    ['hash', 'k1'],
  ])('in %s mode, text() is every pattern applied in order', (_mode, hashKey) => {
    const r = createRedactor(hashKey ? { mode: 'hash', hashKey } : { mode: 'mask' });
    const ref = reference(hashKey);
    for (const s of [...edges, ...built]) expect(r.text(s), JSON.stringify(s)).toBe(ref(s));
    // the corpus does reach every pattern
    const hit = new Set(referencePatterns.map(([name]) => name).filter((name) => [...edges, ...built].some((s) => mask.text(s).includes(`[redacted:${name}]`))));
    expect([...hit].sort()).toEqual(referencePatterns.map(([name]) => name).sort());
  });

  it('keeps an unchanged string, value and URL identical (same reference)', () => {
    const payload = { id: '2f28093f-27f3-5b64-dea35ab434a3', n: 52, nested: { s: 'b9f6b55d-2eb8-1104-4668742f721b', list: ['TRANSACTIONS', 'ABC 110313'] } };
    expect(mask.value(payload)).toBe(payload);
    const u = 'https://hooks.example.com/belvo';
    expect(mask.url(u)).toBe(u);
  });
});
