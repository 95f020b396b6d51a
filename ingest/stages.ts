/**
 * Pipeline stages: the one place they are configured. Each accepted record runs through
 * `configuredStages()` in order, after validation and before it is queued (see stages/stage.ts
 * for the interface, and README "Pipeline stages" for writing one).
 */
import type { Stage } from './stages/stage.js';
import { errorOriginStage } from './stages/error-origin.js';
import { redactionStage } from './stages/redaction.js';
import type { Config } from '../config/env.js';

export { DROP, reject, defineStage, runStages, Rejection } from './stages/stage.js';
export type { Stage, StageContext, StageOutcome, AnyRecord, RecordOf } from './stages/stage.js';
export { errorOriginStage, defaultErrorOriginTable, type ErrorOrigin } from './stages/error-origin.js';
export { enrichmentStage, type EnrichmentOptions, type EnrichmentEntry } from './stages/enrichment.js';

/** Static institution directory for the enrichment stage (display name and country). */
export const institutionDirectory = {
  erebor_mx_retail: { institution_name: 'Erebor Retail', institution_country: 'MX' },
  gringotts_br_retail: { institution_name: 'Gringotts Retail', institution_country: 'BR' },
  banco_azul_co: { institution_name: 'Banco Azul', institution_country: 'CO' },
  iron_bank_br_business: { institution_name: 'Iron Bank Business', institution_country: 'BR' },
  rivendell_mx_fiscal: { institution_name: 'Rivendell Fiscal', institution_country: 'MX' },
} as const;

export { redactionStage, createRedactor, type RedactionOptions } from './stages/redaction.js';

export type StageConfig = Pick<Config, 'REDACTION_MODE' | 'REDACTION_HASH_KEY' | 'REDACTION_KEYS'>;

export function configuredStages(config?: StageConfig): Stage[] {
  const mode = config?.REDACTION_MODE ?? 'mask';
  return [
    // Redaction FIRST: no later stage, queue or table may see what it removes.
    ...(mode === 'off' ? [] : [redactionStage({ mode, hashKey: config?.REDACTION_HASH_KEY, extraKeys: config?.REDACTION_KEYS })]),
    errorOriginStage(),
    // Enrichment is off until the raw tables have institution_name / institution_country columns;
    // until then its fields would be dropped by the row mapping:
    // enrichmentStage({ key: 'institution', kinds: ['logs', 'links'], map: institutionDirectory }),
  ];
}
