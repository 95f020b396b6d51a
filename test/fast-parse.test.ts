import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DemoTraffic } from '../demo/traffic.js';
import { compileFastParse, fastParseDeclines } from '../schema/fast-parse.js';
import { jsonLimits, kindNames, recordKinds, type RecordKind } from '../schema/records.js';
import { slowParseKinds } from '../ingest/prepare.js';

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

/** Simulated traffic, for the kinds the simulator makes. */
function simulatedTraffic(): Partial<Record<RecordKind, Record<string, unknown>[]>> {
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
  const simulated = simulatedTraffic()[kind];
  // every kind's example too: a kind the simulator does not make is checked from its example's mutations
  const records = [...(simulated ?? []), { ...recordKinds[kind].example }];

  const agree = (input: unknown) => {
    const f = fast(input);
    if (!f) return false;
    const z = schema.safeParse(input);
    expect(z.success, `fast accepted what zod refuses: ${JSON.stringify(input)?.slice(0, 300)}`).toBe(true);
    expect(JSON.stringify(f.data)).toBe(JSON.stringify(z.data));
    expect(f.data).toEqual(z.data);
    return true;
  };

  it('compiles the schema (it reads zod internals: a zod upgrade that changed them fails here)', () => {
    expect(fastParseDeclines(schema)).toBeUndefined();
  });

  it('answers for the valid records producers send, exactly as zod', () => {
    if (simulated) expect(simulated.length).toBeGreaterThan(50);
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
    const seeds = records.slice(0, 300);
    for (const r of seeds) {
      for (const m of mutations(r, random, Math.ceil(3600 / seeds.length))) {
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

/** Constructs the record schemas do not use today, or use only in rare inputs: the generated code must still agree. */
describe('compiled parser on other zod constructs', () => {
  // answered: inputs the compiled parser must vouch for; others: it may decline, but never disagree
  const cases: { name: string; schema: z.ZodType; answered: unknown[]; others: unknown[] }[] = [
    {
      name: 'defaults, nullable and optional keys',
      schema: z.object({ a: z.string().default('d'), b: z.number().nullable(), c: z.string().optional() }),
      answered: [{ b: null }, { b: 1, c: 'x', a: 'y' }, { c: '', b: 2, extra: 1 }],
      others: [{ b: undefined }, { a: undefined, b: 1 }, { b: 1, c: undefined }, {}, { a: 1, b: 1 }],
    },
    {
      name: 'transforms and refinements',
      schema: z.object({
        n: z.string().transform((s, ctx) => (s === 'bad' ? (ctx.addIssue({ code: 'custom', message: 'bad' }), s) : s.length)),
        t: z.string().trim().toLowerCase(),
        r: z.number().refine((v) => v % 2 === 0),
      }),
      answered: [{ n: 'abc', t: ' X ', r: 2 }],
      others: [{ n: 'bad', t: 'x', r: 2 }, { n: 'a', t: 'x', r: 3 }],
    },
    {
      name: 'records',
      schema: z.record(z.string(), z.unknown()),
      answered: [{}, { b: 1, a: [2], 1: 'x' }, Object.assign(Object.create(null), { a: 1 })],
      others: [new Date(), new Map(), [], JSON.parse('{"__proto__": {"x": 1}, "a": 1}'), { [Symbol('s')]: 1 }],
    },
    {
      name: 'unions',
      schema: z.union([z.literal(1), z.number().int(), z.iso.datetime(), z.enum(['a', 'b'])]),
      answered: [1, 2, '2026-01-01T00:00:00Z', 'a'],
      others: [1.5, 'c', '2026-01-01', null],
    },
  ];

  it.each(cases)('$name', ({ schema, answered, others }) => {
    const fast = compileFastParse(schema);
    for (const input of [...answered, ...others]) {
      const f = fast(input);
      const r = schema.safeParse(input);
      if (answered.includes(input)) expect(f, JSON.stringify(input)).toBeDefined();
      if (!f) continue;
      expect(r.success, `fast accepted what zod refuses: ${JSON.stringify(input)}`).toBe(true);
      expect(JSON.stringify(f.data)).toBe(JSON.stringify(r.data));
      expect(f.data).toEqual(r.data);
    }
  });

  it('leaves what it does not know to zod', () => {
    for (const schema of [z.strictObject({ a: z.string() }), z.object({ a: z.string() }).catchall(z.number()), z.array(z.string())]) {
      expect(compileFastParse(schema as z.ZodType)({ a: 'x' })).toBeUndefined();
    }
  });
});

describe('fast parse coverage, as ingest checks it at start-up', () => {
  it('names no record kind today, and names a schema it cannot compile with the reason', () => {
    expect(slowParseKinds()).toEqual([]);
    expect(slowParseKinds({ ok: z.object({ a: z.string() }), list: z.array(z.string()) as z.ZodType })).toEqual([{ kind: 'list', reason: 'unsupported zod construct: array' }]);
  });
});

describe('the zod it was written against', () => {
  it('is pinned to one exact version in package.json, the one installed', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const installed = (JSON.parse(readFileSync('node_modules/zod/package.json', 'utf8')) as { version: string }).version;
    expect(pkg.dependencies.zod).toBe(installed);
  });
});
