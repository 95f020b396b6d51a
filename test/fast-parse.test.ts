import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DemoTraffic } from '../demo/traffic.js';
import { compileFastParse } from '../schema/fast-parse.js';
import { jsonLimits, kindNames, recordKinds, type RecordKind } from '../schema/records.js';

/**
 * The compiled parser may only ever answer what zod answers: for every input it either declines
 * (undefined) or returns exactly zod's data for a record zod accepts. Checked on simulator traffic
 * and on thousands of mutations of it (wrong types, limits ±1, missing and extra fields, ...).
 */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function traffic(): Record<RecordKind, Record<string, unknown>[]> {
  const now = Date.now();
  const t = new DemoTraffic(11, 200, now);
  const b = t.batch(now - 3_600_000, now, 3000);
  return { logs: b.logs, 'webhook-attempts': b.webhookAttempts, links: [...t.linkStates(now - 3_600_000), ...b.links] };
}

const nasty: unknown[] = [
  undefined, null, 0, -1, 1.5, 99, 100, 599, 600, 2 ** 53, Number.NaN, Infinity, '', 'x', 'x'.repeat(129), 'x'.repeat(4097),
  true, [], {}, [1], { code: 'c' }, '2026-11-26T10:00:00Z', '2026-11-26T10:00:00', '2026-02-30T10:00:00Z', '1999-12-31T23:59:59Z',
  Date.UTC(1999, 0, 1), Date.now() + 48 * 3600_000, 'GET', 'get', 'valid', 'internal', 86_400_001, -0.001,
  { deep: JSON.parse('['.repeat(jsonLimits.maxDepth + 2) + ']'.repeat(jsonLimits.maxDepth + 2)) },
  { big: 'y'.repeat(jsonLimits.payloadBytes + 1) },
];

function mutations(record: Record<string, unknown>, random: () => number, n: number): unknown[] {
  const keys = Object.keys(record);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const m: Record<string, unknown> = { ...record };
    const changes = 1 + Math.floor(random() * 3);
    for (let c = 0; c < changes; c++) {
      const key = random() < 0.9 ? keys[Math.floor(random() * keys.length)]! : `extra_${c}`;
      const r = random();
      if (r < 0.15) delete m[key];
      else m[key] = nasty[Math.floor(random() * nasty.length)];
    }
    out.push(m);
  }
  return out;
}

describe.each(kindNames)('compiled parser for %s', (kind) => {
  const schema = recordKinds[kind].schema as unknown as z.ZodType;
  const fast = compileFastParse(schema);
  const records = traffic()[kind];

  const agree = (input: unknown) => {
    const f = fast(input);
    if (!f) return false;
    const z = schema.safeParse(input);
    expect(z.success, `fast accepted what zod refuses: ${JSON.stringify(input)?.slice(0, 300)}`).toBe(true);
    expect(JSON.stringify(f.data)).toBe(JSON.stringify(z.data));
    expect(f.data).toEqual(z.data);
    return true;
  };

  it('answers for the valid records producers send, exactly as zod', () => {
    expect(records.length).toBeGreaterThan(50);
    const answered = records.filter(agree).length;
    // numbers and RFC 3339 strings alike
    const times = ['timestamp', 'created_at', 'updated_at'];
    const iso = records.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, times.includes(k) ? new Date(v as number).toISOString() : v])));
    expect(iso.filter(agree).length).toBe(records.length);
    expect(answered).toBe(records.length);
  });

  it('never accepts what zod refuses, nor returns other data, on mutated records', () => {
    const random = rng(kindNames.indexOf(kind) + 1);
    let declined = 0;
    let answered = 0;
    for (const r of records.slice(0, 300)) {
      for (const m of mutations(r, random, 12)) {
        if (agree(m)) answered++;
        else declined++;
      }
    }
    // both branches were exercised
    expect(declined).toBeGreaterThan(100);
    expect(answered).toBeGreaterThan(100);
  });

  it('declines inputs that are not records at all', () => {
    for (const v of [null, undefined, 1, 'x', [], [{}], new Date()]) expect(fast(v)).toBeUndefined();
  });
});
