import type { RecordKind } from '../../schema/records.js';
import type { Stage } from './stage.js';

export type EnrichmentEntry = Readonly<Record<string, string | number | boolean>>;

export interface EnrichmentOptions {
  name?: string;
  kinds?: readonly RecordKind[];
  /** The record field whose value is looked up, e.g. `institution`. */
  key: string;
  /** value of `key` -> fields to add, e.g. { erebor_mx_retail: { institution_name: 'Erebor', country: 'MX' } }. */
  map: Readonly<Record<string, EnrichmentEntry>>;
  /** Replace fields the producer already sent (default: keep the producer's). */
  overwrite?: boolean;
}

/**
 * Adds fields from a static map. The fields reach storage only where the raw table has a column
 * for them (the row mapping in schema/records.ts drops the rest).
 */
export function enrichmentStage(o: EnrichmentOptions): Stage {
  return {
    name: o.name ?? `enrich-${o.key}`,
    kinds: o.kinds,
    run(record) {
      const value = (record as unknown as Record<string, unknown>)[o.key];
      const entry = typeof value === 'string' ? o.map[value] : undefined;
      if (!entry) return record;
      const add = o.overwrite
        ? entry
        : Object.fromEntries(Object.entries(entry).filter(([k]) => (record as unknown as Record<string, unknown>)[k] === undefined));
      return Object.keys(add).length ? { ...record, ...add } : record;
    },
  };
}
