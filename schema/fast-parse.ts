import type { z } from 'zod';

/**
 * A faster parse for the ingest hot path, compiled from the zod schemas in records.ts (they stay the
 * only definition). zod's general machinery costs ~2 µs per record, more than everything else ingest
 * does to a record but JSON.parse; the compiled checker walks the same definition with plain code.
 *
 * It answers only when it is sure: the record is valid and `data` is what zod would return. For
 * anything else (an invalid record, a construct it does not know) it returns undefined and the
 * caller asks zod, which also words the errors. A test compares both on real and mutated records.
 * The checks themselves come from the schema: limits are read from zod's check definitions, and
 * checks it does not inline (formats, refinements) run zod's own check code.
 */
export type FastParse<T> = (input: unknown) => { data: T } | undefined;

/** Returns the parsed value, or NO when the fast path cannot vouch for it. */
type Step = (value: unknown) => unknown;
const NO: unique symbol = Symbol('fast-parse.no');

// zod 4's internal definition objects, as far as this file reads them
interface Def {
  type: string;
  checks?: Check[];
  shape?: Record<string, Schema>;
  innerType?: Schema;
  options?: Schema[];
  entries?: Record<string, unknown>;
  in?: Schema;
  out?: Schema;
  transform?: (value: unknown, ctx: Payload) => unknown;
  keyType?: Schema;
  valueType?: Schema;
  defaultValue?: unknown;
  catchall?: Schema;
  format?: string;
}
interface Schema {
  _zod: { def: Def };
}
interface Check {
  _zod: { def: { check: string; value?: unknown; inclusive?: boolean; minimum?: number; maximum?: number; format?: string }; check(p: Payload): unknown };
}
interface Payload {
  value: unknown;
  issues: unknown[];
}

/** A check zod would run: inlined when it is a simple limit, else zod's own check function. */
function compileCheck(c: Check): (v: unknown) => boolean {
  const d = c._zod.def;
  switch (d.check) {
    case 'min_length':
      return (v) => (v as string).length >= d.minimum!;
    case 'max_length':
      return (v) => (v as string).length <= d.maximum!;
    case 'greater_than': {
      const min = d.value as number;
      return d.inclusive ? (v) => (v as number) >= min : (v) => (v as number) > min;
    }
    case 'less_than': {
      const max = d.value as number;
      return d.inclusive ? (v) => (v as number) <= max : (v) => (v as number) < max;
    }
    case 'number_format':
      if (d.format === 'safeint') return (v) => Number.isSafeInteger(v);
      break;
  }
  return (v) => {
    const payload: Payload = { value: v, issues: [] };
    const r = c._zod.check(payload);
    return !(r instanceof Promise) && payload.issues.length === 0;
  };
}

function withChecks(schema: Schema, base: Step): Step {
  const checks = (schema._zod.def.checks ?? []).map(compileCheck);
  if (checks.length === 0) return base;
  return (value) => {
    const out = base(value);
    if (out === NO) return NO;
    for (const check of checks) if (!check(out)) return NO;
    return out;
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** undefined when the schema uses something this compiler does not know (then zod does it all). */
function compile(schema: Schema): Step | undefined {
  const def = schema._zod.def;
  switch (def.type) {
    case 'string': {
      // a format (z.iso.datetime(), z.email(), ...) is a check the schema runs on itself
      const own = def.format !== undefined ? (schema as unknown as { _zod: { check?: (p: Payload) => unknown } })._zod.check : undefined;
      if (def.format !== undefined && typeof own !== 'function') return undefined;
      if (!own) return withChecks(schema, (v) => (typeof v === 'string' ? v : NO));
      return withChecks(schema, (v) => {
        if (typeof v !== 'string') return NO;
        const payload: Payload = { value: v, issues: [] };
        own(payload);
        return payload.issues.length ? NO : v;
      });
    }
    case 'number':
      return withChecks(schema, (v) => (typeof v === 'number' && Number.isFinite(v) ? v : NO));
    case 'unknown':
      return withChecks(schema, (v) => v);
    case 'enum': {
      const allowed = new Set(Object.values(def.entries!));
      return withChecks(schema, (v) => (allowed.has(v) ? v : NO));
    }
    case 'optional': {
      const inner = compile(def.innerType!);
      return inner && ((v) => (v === undefined ? undefined : inner(v)));
    }
    case 'nullable': {
      const inner = compile(def.innerType!);
      return inner && ((v) => (v === null ? null : inner(v)));
    }
    case 'default': {
      const inner = compile(def.innerType!);
      return inner && ((v) => (v === undefined ? def.defaultValue : inner(v)));
    }
    case 'union': {
      const options = def.options!.map(compile);
      if (options.some((o) => o === undefined)) return undefined;
      return withChecks(schema, (v) => {
        for (const o of options) {
          const out = o!(v);
          if (out !== NO) return out;
        }
        return NO;
      });
    }
    case 'pipe': {
      const first = compile(def.in!);
      const outDef = def.out!._zod.def;
      if (!first) return undefined;
      if (outDef.type === 'transform') {
        const fn = outDef.transform!;
        return (v) => {
          const mid = first(v);
          if (mid === NO) return NO;
          const payload: Payload = { value: mid, issues: [] };
          const out = fn(mid, payload);
          return out instanceof Promise || payload.issues.length ? NO : out;
        };
      }
      const second = compile(def.out!);
      return second && ((v) => {
        const mid = first(v);
        return mid === NO ? NO : second(mid);
      });
    }
    case 'record': {
      const keyDef = def.keyType!._zod.def;
      if (keyDef.type !== 'string' || keyDef.checks?.length) return undefined;
      const value = compile(def.valueType!);
      if (!value) return undefined;
      return withChecks(schema, (v) => {
        if (!isPlainObject(v)) return NO;
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v)) {
          if (k === '__proto__') return NO;
          const x = value(v[k]);
          if (x === NO) return NO;
          out[k] = x;
        }
        return out;
      });
    }
    case 'object': {
      if (def.catchall) return undefined; // only zod's default: unknown keys are dropped
      const fields = Object.entries(def.shape!).map(([key, s]) => [key, compile(s)] as const);
      if (fields.some(([, f]) => f === undefined)) return undefined;
      return withChecks(schema, (v) => {
        if (!isPlainObject(v)) return NO;
        const out: Record<string, unknown> = {};
        for (const [key, field] of fields) {
          const x = v[key];
          // a key present with the value undefined: let zod decide what that means
          if (x === undefined && key in v) return NO;
          const parsed = field!(x);
          if (parsed === NO) return NO;
          if (parsed !== undefined) out[key] = parsed;
        }
        return out;
      });
    }
    default:
      return undefined;
  }
}

export function compileFastParse<S extends z.ZodType>(schema: S): FastParse<z.output<S>> {
  const step = compile(schema as unknown as Schema);
  if (!step) return () => undefined;
  return (input) => {
    const out = step(input);
    return out === NO ? undefined : { data: out as z.output<S> };
  };
}

const compiled = new WeakMap<z.ZodType, FastParse<unknown>>();

/** schema.safeParse(input), through the compiled checker when it can vouch for the input. */
export function safeParseFast<S extends z.ZodType>(schema: S, input: unknown): z.ZodSafeParseResult<z.output<S>> {
  let fast = compiled.get(schema) as FastParse<z.output<S>> | undefined;
  if (!fast) {
    fast = compileFastParse(schema);
    compiled.set(schema, fast as FastParse<unknown>);
  }
  const r = fast(input);
  return r ? { success: true, data: r.data } : schema.safeParse(input);
}
