import type { z } from 'zod';
import { safeParseFast } from '../../schema/fast-parse.js';
import type { RecordKind, RecordOf } from '../../schema/records.js';

export type { RecordOf };

/**
 * A pipeline stage sees each validated record before it is queued and returns it (maybe changed),
 * DROP to discard it silently, or reject(reason) to refuse it (the producer sees the reason in
 * `rejected`). Stages are synchronous: they run in the request path, once per record.
 */
export type AnyRecord = RecordOf[RecordKind];

export const DROP = Symbol('stage.drop');

export class Rejection {
  constructor(readonly reason: string) {}
}
export const reject = (reason: string) => new Rejection(reason);

export type StageOutcome<R> = R | typeof DROP | Rejection;

export interface StageContext {
  kind: RecordKind;
  /** Which API key sent the batch (its id, never the key). */
  apiKeyId: string;
}

export interface Stage {
  readonly name: string;
  /** Record kinds the stage applies to; every kind when omitted. */
  readonly kinds?: readonly RecordKind[];
  run(record: AnyRecord, ctx: StageContext): StageOutcome<AnyRecord>;
}

/** A stage for some kinds only, with the record typed for them. Return a new object when changing it. */
export function defineStage<K extends RecordKind>(
  name: string,
  kinds: readonly K[],
  run: (record: RecordOf[K], ctx: StageContext & { kind: K }) => StageOutcome<RecordOf[K]>,
): Stage {
  return { name, kinds, run: run as Stage['run'] };
}

export type StagesResult =
  | { outcome: 'keep'; record: AnyRecord }
  | { outcome: 'drop'; stage: string }
  | { outcome: 'reject'; error: { path: string; message: string } };

/**
 * Runs the stages in order. A stage that throws, or returns a record its kind's schema refuses,
 * rejects this record only, naming itself in `path`.
 *
 * The schema re-check runs once, after the last stage, and only when some stage changed the record:
 * it is a full validation and this is the ingest hot path. When it fails, the intermediate records
 * are checked in order to blame the first stage whose output was invalid.
 */
export function runStages(
  stages: readonly Stage[],
  record: AnyRecord,
  ctx: StageContext,
  schema: z.ZodType<AnyRecord, unknown>,
): StagesResult {
  let current = record;
  // (stage, its output) for each stage that returned a new record
  const changes: [string, AnyRecord][] = [];
  for (const stage of stages) {
    if (stage.kinds && !stage.kinds.includes(ctx.kind)) continue;
    let out: StageOutcome<AnyRecord>;
    try {
      out = stage.run(current, ctx);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { outcome: 'reject', error: { path: stage.name, message: `stage "${stage.name}" failed: ${why}` } };
    }
    if (out === DROP) return { outcome: 'drop', stage: stage.name };
    if (out instanceof Rejection) return { outcome: 'reject', error: { path: stage.name, message: out.reason } };
    if (out !== current) {
      changes.push([stage.name, out]);
      current = out;
    }
  }
  if (changes.length === 0) return { outcome: 'keep', record: current };
  // A changed record must still be one the tables accept.
  const checked = safeParseFast(schema, current);
  if (checked.success) return { outcome: 'keep', record: checked.data };
  for (const [name, out] of changes) {
    const r = changes.length === 1 ? checked : schema.safeParse(out);
    if (r.success) continue;
    const issue = r.error.issues[0];
    const detail = issue ? `${issue.path.join('.') || '(record)'}: ${issue.message}` : 'invalid';
    return { outcome: 'reject', error: { path: name, message: `stage "${name}" produced an invalid record: ${detail}` } };
  }
  // Each output valid alone but the last one not: cannot happen for a pure schema; blame the last.
  const last = changes[changes.length - 1]![0];
  return { outcome: 'reject', error: { path: last, message: `stage "${last}" produced an invalid record` } };
}
