import { createHmac } from 'node:crypto';
import { defineStage, type Stage } from './stage.js';

/**
 * Redaction: secrets and personal data never reach the queue or ClickHouse. Runs first among the
 * stages, on error bodies, error messages and webhook payloads (successful bodies are dropped
 * before any stage runs). Two mechanisms:
 *   - sensitive KEYS anywhere in a JSON value (password, token, api_key, card_number, ...): the
 *     whole value is replaced;
 *   - sensitive VALUES inside any string (bearer tokens, e-mails, card numbers passing Luhn,
 *     Brazilian CPF/CNPJ and Mexican CLABE with valid check digits, Mexican CURP/RFC).
 * Replacement is a mask, or a keyed hash (HMAC-SHA256, first 12 hex) so the same value can still be
 * matched across records without being readable.
 */
export interface RedactionOptions {
  mode: 'mask' | 'hash';
  /** HMAC key for mode 'hash'; keep it secret and stable, or hashes stop matching. */
  hashKey?: string;
  /** Extra key names, compared case-insensitively without '_' / '-'. */
  extraKeys?: readonly string[];
}

export const defaultSensitiveKeys = [
  'password', 'passwd', 'pwd', 'secret', 'clientsecret', 'token', 'accesstoken', 'refreshtoken', 'idtoken',
  'authorization', 'auth', 'apikey', 'xapikey', 'cookie', 'setcookie', 'session', 'sessionid', 'otp', 'mfa', 'pin',
  'cvv', 'cvc', 'cardnumber', 'pan', 'accountnumber', 'iban', 'clabe', 'routingnumber', 'privatekey',
] as const;

const normaliseKey = (k: string) => k.toLowerCase().replace(/[_\-\s]/g, '');
/** Payload keys repeat from record to record: remember whether each is sensitive (bounded). */
function keyCheck(keys: ReadonlySet<string>): (k: string) => boolean {
  const seen = new Map<string, boolean>();
  return (k) => {
    let sensitive = seen.get(k);
    if (sensitive === undefined) {
      sensitive = keys.has(normaliseKey(k));
      if (seen.size >= 10_000) seen.clear();
      seen.set(k, sensitive);
    }
    return sensitive;
  };
}

const digits = (s: string) => s.replace(/\D/g, '');

export function luhnValid(num: string): boolean {
  const d = digits(num);
  if (d.length < 13 || d.length > 19 || /^(\d)\1+$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let x = Number(d[d.length - 1 - i]);
    if (i % 2 === 1) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
  }
  return sum % 10 === 0;
}

export function cpfValid(value: string): boolean {
  const d = digits(value);
  if (d.length !== 11 || /^(\d)\1{10}$/.test(d)) return false;
  const check = (len: number) => {
    let sum = 0;
    for (let i = 0; i < len; i++) sum += Number(d[i]) * (len + 1 - i);
    const r = (sum * 10) % 11;
    return r === 10 ? 0 : r;
  };
  return check(9) === Number(d[9]) && check(10) === Number(d[10]);
}

export function cnpjValid(value: string): boolean {
  const d = digits(value);
  if (d.length !== 14 || /^(\d)\1{13}$/.test(d)) return false;
  const check = (len: number) => {
    const weights = len === 12 ? [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2] : [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const sum = weights.reduce((s, w, i) => s + w * Number(d[i]), 0);
    const r = sum % 11;
    return r < 2 ? 0 : 11 - r;
  };
  return check(12) === Number(d[12]) && check(13) === Number(d[13]);
}

export function clabeValid(value: string): boolean {
  const d = digits(value);
  if (d.length !== 18) return false;
  const weights = [3, 7, 1];
  const sum = [...d.slice(0, 17)].reduce((s, c, i) => s + ((Number(c) * weights[i % 3]!) % 10), 0);
  return (10 - (sum % 10)) % 10 === Number(d[17]);
}

interface Pattern {
  name: string;
  re: RegExp;
  valid?: (match: string) => boolean;
  /** What a string must contain for `re` to match at all (see `clues`): skips the pattern cheaply. */
  needs: (s: string) => boolean;
}

const bearerWord = /[Bb][Ee][Aa][Rr][Ee][Rr]/;
const idStart = /[A-ZÑ&]{3}\d{6}/;
const numberRun = /(?<![\d ./-])[\d ./-]{11}/;
/**
 * Necessary conditions of the patterns: a substring every match contains. Most strings (route
 * names, messages, hex ids) hold none, so most cost a few native scans and no pattern. Measured
 * faster than one regex alternating them, and than a charCodeAt loop in JS (which, once ioredis is
 * loaded as in ingest, ran 2x slower still: V8 compiles it worse after a `class extends String`).
 */
const clues = {
  /** /bearer/i: without the u flag only ASCII letters fold to these */
  bearer: (s: string) => bearerWord.test(s),
  at: (s: string) => s.includes('@'),
  /** 3 of [A-ZÑ&] right before 6 digits: in every CURP and RFC, never in a lowercase hex id */
  id: (s: string) => idStart.test(s),
  /** 11 characters of digits and ' ', '.', '-', '/' in a row: card, CPF, CNPJ and CLABE hold 11 digits or more (the lookbehind only saves work) */
  number: (s: string) => numberRun.test(s),
};
const anyClue = (s: string) => clues.at(s) || clues.bearer(s) || clues.id(s) || clues.number(s);

// Order matters: the more specific (longer) identifiers first, so a CLABE is not read as a card.
const patterns: readonly Pattern[] = [
  { name: 'bearer', re: /\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, needs: clues.bearer },
  { name: 'email', re: /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, needs: clues.at },
  { name: 'curp', re: /\b[A-Z][AEIOUX][A-Z]{2}\d{6}[HM][A-Z]{5}[A-Z0-9]\d\b/g, needs: clues.id },
  { name: 'rfc', re: /\b[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}\b/g, needs: clues.id },
  { name: 'clabe', re: /\b\d{18}\b/g, valid: clabeValid, needs: clues.number },
  { name: 'cnpj', re: /\b\d{2}\.?\d{3}\.?\d{3}\/?\d{4}-?\d{2}\b/g, valid: cnpjValid, needs: clues.number },
  { name: 'cpf', re: /\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b/g, valid: cpfValid, needs: clues.number },
  { name: 'card', re: /\b\d(?:[ -]?\d){12,18}\b/g, valid: luhnValid, needs: clues.number },
];

export function createRedactor(o: RedactionOptions) {
  const keys = new Set([...defaultSensitiveKeys, ...(o.extraKeys ?? []).map(normaliseKey)]);
  const sensitiveKey = keyCheck(keys);
  if (o.mode === 'hash' && !o.hashKey) throw new Error('redaction mode "hash" needs a key (REDACTION_HASH_KEY)');
  const replace = (kind: string, value: string) =>
    o.mode === 'hash' ? `[${kind}:${createHmac('sha256', o.hashKey!).update(value).digest('hex').slice(0, 12)}]` : `[redacted:${kind}]`;

  /** The string itself when nothing in it is sensitive (callers compare by identity). */
  const text = (s: string): string => {
    if (!anyClue(s)) return s;
    let out = s;
    // clues are read from the original: no pattern matches in or across a replacement ('[redacted:x]', '[x:<12 hex>]')
    for (const p of patterns) {
      if (p.needs(s)) out = out.replace(p.re, (m) => (p.valid && !p.valid(m) ? m : replace(p.name, m)));
    }
    return out;
  };

  /**
   * The value itself (same reference) when nothing in it is sensitive, so unchanged records skip
   * re-validation; a copy is made only from the first change on (payloads are mostly clean).
   */
  const value = (v: unknown): unknown => {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const next = value(v[i]);
        if (out) out.push(next);
        else if (next !== v[i]) out = [...v.slice(0, i), next];
      }
      return out ?? v;
    }
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const ks = Object.keys(o);
      let out: Record<string, unknown> | undefined;
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i]!;
        const child = o[k];
        const next = sensitiveKey(k) && child !== null && child !== '' ? replace('secret', typeof child === 'string' ? child : JSON.stringify(child)) : value(child);
        if (out) out[k] = next;
        else if (next !== child) {
          out = {};
          for (let j = 0; j < i; j++) out[ks[j]!] = o[ks[j]!];
          out[k] = next;
        }
      }
      return out ?? v;
    }
    return v;
  };
  /** A URL keeps its shape; sensitive query parameters and values inside it are replaced. */
  const url = (u: string): string => {
    // no query string: nothing for the URL parser to find that the text patterns would not
    if (!u.includes('?')) return text(u);
    try {
      const parsed = new URL(u);
      for (const [k, v] of parsed.searchParams) if (sensitiveKey(k)) parsed.searchParams.set(k, replace('secret', v));
      return text(parsed.toString());
    } catch {
      return text(u);
    }
  };
  return { text, value, url };
}

/** The stage: error bodies and messages of request logs, payloads and errors of webhook attempts. */
export function redactionStage(o: RedactionOptions): Stage {
  const r = createRedactor(o);
  return defineStage('redaction', ['logs', 'webhook-attempts'], (record, ctx) => {
    if (ctx.kind === 'logs') {
      const log = record as import('../../schema/records.js').RequestLog;
      if (log.status_code < 400) return record; // its body is dropped unread; nothing else is free text
      const message = log.error ? r.text(log.error.message) : undefined;
      const body = log.response_body !== undefined ? r.value(log.response_body) : undefined;
      if (message === log.error?.message && body === log.response_body) return record;
      return {
        ...log,
        ...(log.error ? { error: { code: log.error.code, message: message! } } : {}),
        ...(log.response_body !== undefined ? { response_body: body } : {}),
      } as typeof record;
    }
    const attempt = record as import('../../schema/records.js').WebhookAttempt;
    const error = attempt.error !== undefined ? r.text(attempt.error) : undefined;
    const payload = attempt.payload !== undefined ? (r.value(attempt.payload) as Record<string, unknown>) : undefined;
    const url = r.url(attempt.url);
    if (error === attempt.error && payload === attempt.payload && url === attempt.url) return record;
    return {
      ...attempt,
      ...(attempt.error !== undefined ? { error } : {}),
      ...(attempt.payload !== undefined ? { payload } : {}),
      url,
    } as typeof record;
  });
}
