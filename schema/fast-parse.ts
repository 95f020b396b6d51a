import type { z } from 'zod';

/**
 * A faster parse for the ingest hot path, compiled from the zod schemas in records.ts (they stay the
 * only definition). zod's general machinery costs ~2 µs per record, more than everything else ingest
 * does to a record but JSON.parse; the compiled checker is straight-line JS generated per schema
 * (one function per schema, no per-field closures or payload objects, the output built in place).
 *
 * It answers only when it is sure: the record is valid and `data` is what zod would return. For
 * anything else (an invalid record, a construct it does not know) it returns undefined and the
 * caller asks zod, which also words the errors. A test compares both on real and mutated records.
 * The checks themselves come from the schema: limits are read from zod's check definitions, and
 * checks it does not inline (formats, refinements, transforms) run zod's own code.
 *
 * It reads zod's internal definitions (`_zod.def`), which are not a public API: package.json pins
 * zod to the exact version this was written against. When a schema cannot be compiled (a zod
 * upgrade changed them), every record of it goes to zod, which is correct but ~2 µs slower:
 * fastParseDeclines names the reason, ingest warns at start-up and a test fails.
 */
export type FastParse<T> = (input: unknown) => { data: T } | undefined;

// zod 4's internal definition objects, as far as this file reads them
interface Def {
  type: string;
  checks?: Check[];
  shape?: Record<string, Schema>;
  innerType?: Schema;
  options?: Schema[];
  in?: Schema;
  out?: Schema;
  transform?: unknown;
  reverseTransform?: unknown;
  keyType?: Schema;
  valueType?: Schema;
  defaultValue?: unknown;
  catchall?: Schema;
  coerce?: boolean;
  inclusive?: boolean;
  discriminator?: string;
}
interface Schema {
  _zod: {
    def: Def;
    traits: Set<string>;
    values?: Set<unknown>;
    optin?: 'optional' | 'defaulted';
    optout?: 'optional';
  };
}
interface CheckDef {
  check: string;
  value?: unknown;
  inclusive?: boolean;
  minimum?: unknown;
  maximum?: unknown;
  length?: unknown;
  format?: string;
  when?: unknown;
}
interface Check {
  _zod: { def: CheckDef };
}

/** Thrown while compiling a schema that uses something this compiler does not know: zod then does it all. */
class Unsupported extends Error {}

/**
 * Generated source under construction. Values the code needs (zod checks, transforms, enum sets)
 * are passed in once as constants `r0, r1, ...`; temporaries are `t0, t1, ...`.
 */
class Emitter {
  readonly refs: unknown[] = [];
  private readonly lines: string[] = [];
  private count = 0;
  /** Schemas being compiled, so a recursive schema is declined rather than unrolled forever. */
  readonly open = new Set<Schema>();

  ref(value: unknown): string {
    this.refs.push(value);
    return `r${this.refs.length - 1}`;
  }
  temp(): string {
    return `t${this.count++}`;
  }
  line(code: string): void {
    this.lines.push(code);
  }
  source(): string {
    return this.lines.join('\n');
  }
}

/** A number as JS source; undefined when it is not a plain finite limit (then zod's check runs). */
const numLiteral = (n: unknown): string | undefined => (typeof n === 'number' && Number.isFinite(n) ? String(n) : undefined);

/** The condition under which a simple limit fails, or undefined when zod's own check code must run. */
function inlineFailure(type: string, d: CheckDef, x: string): string | undefined {
  if (type === 'string') {
    const min = numLiteral(d.minimum);
    const max = numLiteral(d.maximum);
    const len = numLiteral(d.length);
    if (d.check === 'min_length' && min) return `${x}.length < ${min}`;
    if (d.check === 'max_length' && max) return `${x}.length > ${max}`;
    if (d.check === 'length_equals' && len) return `${x}.length !== ${len}`;
  }
  if (type === 'number') {
    const v = numLiteral(d.value);
    // negated, so that a comparison that is false for any reason fails
    if (d.check === 'greater_than' && v) return d.inclusive ? `!(${x} >= ${v})` : `!(${x} > ${v})`;
    if (d.check === 'less_than' && v) return d.inclusive ? `!(${x} <= ${v})` : `!(${x} < ${v})`;
    if (d.check === 'number_format' && d.format === 'safeint') return `!Number.isSafeInteger(${x})`;
  }
  return undefined;
}

/**
 * zod's own check, run as zod runs it (skipped when its `when` says so). It may rewrite the value
 * (z.url() trims), so the result is the payload's value.
 */
function emitZodCheck(e: Emitter, check: Check, x: string, fail: string): string {
  const c = e.ref(check);
  const p = e.temp();
  e.line(`const ${p} = { value: ${x}, issues: [] };`);
  const run = `{ const r = ${c}._zod.check(${p}); if (r instanceof Promise || ${p}.issues.length !== 0) ${fail} }`;
  e.line(check._zod.def.when ? `if (${c}._zod.def.when(${p})) ${run}` : run);
  return `${p}.value`;
}

/** The schema's checks in zod's order: the schema itself first when it is one (a string format). */
function emitChecks(e: Emitter, schema: Schema, x: string, fail: string): string {
  const own = schema._zod.traits.has('$ZodCheck') ? [schema as unknown as Check] : [];
  let out = x;
  for (const check of [...own, ...(schema._zod.def.checks ?? [])]) {
    const failure = inlineFailure(schema._zod.def.type, check._zod.def, out);
    if (failure) e.line(`if (${failure}) ${fail}`);
    else out = emitZodCheck(e, check, out, fail);
  }
  return out;
}

/** Emits code that validates the value in `x` (an identifier) and returns the expression of zod's output. */
function emit(e: Emitter, schema: Schema, x: string, fail: string): string {
  if (e.open.has(schema)) throw new Unsupported('recursive schema');
  e.open.add(schema);
  try {
    // zod's run is exact and includes the schema's checks; a transform is user code anyway
    if (schema._zod.def.type === 'transform') return emitZodRun(e, schema, x, fail);
    return emitChecks(e, schema, emitType(e, schema, x, fail), fail);
  } finally {
    e.open.delete(schema);
  }
}

/** Binds an expression to a fresh constant (unless it is a local already), so later code reads a local. */
function bind(e: Emitter, expr: string): string {
  if (/^[\w$]+$/.test(expr)) return expr;
  const t = e.temp();
  e.line(`const ${t} = ${expr};`);
  return t;
}

function emitType(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  switch (def.type) {
    case 'string':
    case 'number':
      if (def.coerce) throw new Unsupported('coercion');
      // Number.isFinite also rules out NaN, as zod does
      e.line(def.type === 'string' ? `if (typeof ${x} !== 'string') ${fail}` : `if (typeof ${x} !== 'number' || !Number.isFinite(${x})) ${fail}`);
      return x;
    case 'unknown':
    case 'any':
      return x;
    case 'enum':
    case 'literal':
      return emitOneOf(e, schema, x, fail);
    case 'optional':
    case 'nullable':
      return emitOptional(e, schema, x, fail);
    case 'default':
      return emitDefault(e, schema, x, fail);
    case 'union':
      return emitUnion(e, schema, x, fail);
    case 'pipe':
      if (def.transform || def.reverseTransform) throw new Unsupported('codec');
      return emit(e, def.out!, bind(e, emit(e, def.in!, x, fail)), fail);
    case 'object':
      return emitObject(e, schema, x, fail);
    case 'record':
      return emitRecord(e, schema, x, fail);
    default:
      throw new Unsupported(def.type);
  }
}

/** Runs the schema through zod itself (a transform): its own payload and context, as safeParse gives. */
function emitZodRun(e: Emitter, schema: Schema, x: string, fail: string): string {
  const p = e.temp();
  e.line(`const ${p} = { value: ${x}, issues: [] };`);
  e.line(`{ const r = ${e.ref(schema)}._zod.run(${p}, { async: false }); if (r !== ${p} || ${p}.issues.length !== 0) ${fail} }`);
  return `${p}.value`;
}

/** An enum or literal: a few string comparisons, else zod's own value set. */
function emitOneOf(e: Emitter, schema: Schema, x: string, fail: string): string {
  const values = [...(schema._zod.values ?? [])];
  if (values.length > 0 && values.length <= 16 && values.every((v) => typeof v === 'string')) {
    e.line(`if (${values.map((v) => `${x} !== ${JSON.stringify(v)}`).join(' && ')}) ${fail}`);
  } else {
    e.line(`if (!${e.ref(schema._zod.values)}.has(${x})) ${fail}`);
  }
  return x;
}

function emitOptional(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  // z.exactOptional() refuses undefined; optional(default) substitutes for it: both left to zod
  if (schema._zod.traits.has('$ZodExactOptional') || def.innerType!._zod.optin === 'defaulted') throw new Unsupported('optional');
  const empty = def.type === 'optional' ? 'undefined' : 'null';
  const out = e.temp();
  e.line(`let ${out} = ${empty};`);
  e.line(`if (${x} !== ${empty}) {`);
  e.line(`${out} = ${emit(e, def.innerType!, x, fail)};`);
  e.line('}');
  return out;
}

/** zod reads `defaultValue` per parse (a getter that clones or calls it); so does this code. */
function emitDefault(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  const defaultValue = `${e.ref(def)}.defaultValue`;
  const out = e.temp();
  e.line(`let ${out};`);
  e.line(`if (${x} === undefined) ${out} = ${defaultValue};`);
  e.line('else {');
  e.line(`${out} = ${emit(e, def.innerType!, x, fail)};`);
  e.line(`if (${out} === undefined) ${out} = ${defaultValue};`);
  e.line('}');
  return out;
}

/** First option that accepts wins, as in zod; each option is a labelled block that a failure breaks out of. */
function emitUnion(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  if (def.inclusive === false || def.discriminator !== undefined) throw new Unsupported('xor / discriminated union');
  const out = e.temp();
  const done = `${out}_done`;
  e.line(`let ${out};`);
  e.line(`${done}: {`);
  def.options!.forEach((option, i) => {
    const label = `${out}_${i}`;
    e.line(`${label}: {`);
    e.line(`${out} = ${emit(e, option, x, `break ${label};`)};`);
    e.line(`break ${done};`);
    e.line('}');
  });
  e.line(fail);
  e.line('}');
  return out;
}

const isObjectCode = (x: string) => `typeof ${x} !== 'object' || ${x} === null || Array.isArray(${x})`;

/**
 * Only zod's default for unknown keys (strip). The output gets the shape's keys in the shape's
 * order, as zod builds it; how an absent key is treated follows zod's optin/optout rules.
 */
function emitObject(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  const shape = def.shape!;
  if (def.catchall || Object.getOwnPropertySymbols(shape).length || Object.hasOwn(shape, '__proto__')) throw new Unsupported('object keys');
  e.line(`if (${isObjectCode(x)}) ${fail}`);
  const out = e.temp();
  e.line(`const ${out} = {};`);
  for (const [key, field] of Object.entries(shape)) emitField(e, out, key, field, x, fail);
  return out;
}

function emitField(e: Emitter, out: string, key: string, field: Schema, x: string, fail: string): void {
  const k = JSON.stringify(key);
  const { optin, optout } = field._zod;
  const required = optin === undefined;
  // absent and allowed to stay absent: zod omits the key without looking at the field's result
  const omittable = optin === 'optional' && optout === 'optional';
  const v = bind(e, `${x}[${k}]`);
  // a key present with the value undefined: let zod decide what that means
  e.line(required ? `if (${v} === undefined) ${fail}` : `if (${v} === undefined && ${k} in ${x}) ${fail}`);
  if (omittable) e.line(`if (${v} !== undefined) {`);
  const parsed = bind(e, emit(e, field, v, fail));
  // zod writes a present key even when its result is undefined, and an absent one a default filled in
  const always = required || omittable || (optin === 'defaulted' && optout !== 'optional');
  e.line(always ? `${out}[${k}] = ${parsed};` : `if (${parsed} !== undefined || ${v} !== undefined) ${out}[${k}] = ${parsed};`);
  if (omittable) e.line('}');
}

/**
 * z.record(z.string(), ...): zod copies the own enumerable keys of a plain object. Symbol keys (zod
 * refuses them) and a `__proto__` key (zod drops it) are left to zod.
 */
function emitRecord(e: Emitter, schema: Schema, x: string, fail: string): string {
  const def = schema._zod.def;
  const key = def.keyType!._zod;
  if (key.def.type !== 'string' || key.def.checks?.length || key.traits.has('$ZodCheck') || key.def.coerce) throw new Unsupported('record key');
  e.line(`if (${isObjectCode(x)}) ${fail}`);
  // zod's plain-object test accepts these two constructors; anything else goes to zod
  const ctor = bind(e, `${x}.constructor`);
  e.line(`if ((${ctor} !== Object && ${ctor} !== undefined) || Object.getOwnPropertySymbols(${x}).length !== 0) ${fail}`);
  const keys = bind(e, `Object.keys(${x})`);
  const [out, i, k] = [e.temp(), e.temp(), e.temp()];
  e.line(`const ${out} = {};`);
  e.line(`for (let ${i} = 0; ${i} < ${keys}.length; ${i}++) {`);
  e.line(`const ${k} = ${keys}[${i}];`);
  e.line(`if (${k} === '__proto__') ${fail}`);
  const v = bind(e, `${x}[${k}]`);
  e.line(`${out}[${k}] = ${emit(e, def.valueType!, v, fail)};`);
  e.line('}');
  return out;
}

/** Returned by a compiled checker that cannot vouch for its input. */
const NO: unique symbol = Symbol('fast-parse.no');
type Checker = (input: unknown) => unknown;
const declineAll: Checker = () => NO;

/** The generated function, or why there is none (then zod answers every input). */
function compile(schema: Schema): Checker | { declined: string } {
  const e = new Emitter();
  try {
    const out = emit(e, schema, 'input', 'return NO;');
    const constants = e.refs.map((_, i) => `const r${i} = refs[${i}];`).join('\n');
    const body = `'use strict';\n${constants}\nreturn function fastParse(input) {\n${e.source()}\nreturn ${out};\n};`;
    return new Function('refs', 'NO', body)(e.refs, NO) as Checker;
  } catch (err) {
    // Unsupported, code generation disallowed (EvalError), or zod's internals not as read here
    return { declined: err instanceof Unsupported ? `unsupported zod construct: ${err.message}` : String(err) };
  }
}

/** The generated function; declineAll when the schema uses something unknown or code generation is off. */
function compileChecker(schema: Schema): Checker {
  const checker = compile(schema);
  return typeof checker === 'function' ? checker : declineAll;
}

/** Why the schema cannot be compiled, so that every input of it goes to zod; undefined when it compiles. */
export function fastParseDeclines(schema: z.ZodType): string | undefined {
  const checker = compile(schema as unknown as Schema);
  return typeof checker === 'function' ? undefined : checker.declined;
}

export function compileFastParse<S extends z.ZodType>(schema: S): FastParse<z.output<S>> {
  const check = compileChecker(schema as unknown as Schema);
  return (input) => {
    const out = check(input);
    return out === NO ? undefined : { data: out as z.output<S> };
  };
}

const compiled = new WeakMap<z.ZodType, Checker>();
// ingest validates a batch of one kind at a time: remember the last schema rather than look it up
let lastSchema: z.ZodType | undefined;
let lastChecker: Checker = declineAll;

/** schema.safeParse(input), through the compiled checker when it can vouch for the input. */
export function safeParseFast<S extends z.ZodType>(schema: S, input: unknown): z.ZodSafeParseResult<z.output<S>> {
  if (schema !== lastSchema) {
    let checker = compiled.get(schema);
    if (!checker) {
      checker = compileChecker(schema as unknown as Schema);
      compiled.set(schema, checker);
    }
    lastSchema = schema;
    lastChecker = checker;
  }
  const out = lastChecker(input);
  return out === NO ? schema.safeParse(input) : { success: true, data: out as z.output<S> };
}
