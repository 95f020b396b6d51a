/** A raw table's cell as ingest queues it (JSONCompactEachRow value). */
export type Cell = string | number | null;

/**
 * A record's row in a raw table, defined once as its columns in insert order, each with how it is
 * computed. Two forms derive from it: `toRow` (an object, for tests, dead letters and tools) and
 * `toValues` (the values in column order, with the batch id last), the form ingest encodes.
 *
 * `toValues` runs for every record on ingest's hot path, so it is generated as one array literal
 * calling each column's function (`[c0(r), c1(r), ..., batchId]`): each call site sees one
 * function and is inlined, where a loop over the columns would call through one shared site and
 * build an object first (~20% of the mapping and encoding CPU; docs/performance.md, section 22).
 */
export interface RowMapping<T, R extends Record<string, Cell>> {
  /** the raw table's columns, in insert order (batch_id and ingested_at excluded) */
  columns: readonly (keyof R & string)[];
  toRow: (record: T) => R;
  toValues: (record: T, batchId: string) => Cell[];
}

type Columns<T> = Record<string, (record: T) => Cell>;

/** `rowMapping<RequestLog>()({ request_id: (r) => r.request_id, ... })`: curried so T is given and the columns inferred. */
export const rowMapping =
  <T>() =>
  <S extends Columns<T>>(spec: S): RowMapping<T, { [K in keyof S]: ReturnType<S[K]> }> => {
    type R = { [K in keyof S]: ReturnType<S[K]> };
    const columns = Object.keys(spec) as (keyof S & string)[];
    const compute = columns.map((c) => spec[c]!);
    return {
      columns,
      toRow: (record) => {
        const row = {} as R;
        for (const c of columns) row[c] = spec[c]!(record) as R[typeof c];
        return row;
      },
      toValues: compileValues(compute),
    };
  };

function compileValues<T>(compute: ((record: T) => Cell)[]): (record: T, batchId: string) => Cell[] {
  try {
    const names = compute.map((_, i) => `c${i}`);
    const body = `'use strict';\nreturn function toValues(r, batchId) {\n  return [${names.map((n) => `${n}(r)`).join(', ')}, batchId];\n};`;
    return new Function(...names, body)(...compute) as (record: T, batchId: string) => Cell[];
  } catch {
    // code generation disallowed (EvalError): the same values, through a loop
    return (record, batchId) => [...compute.map((f) => f(record)), batchId];
  }
}
