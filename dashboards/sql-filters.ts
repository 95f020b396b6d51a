import { hourKeyBound } from '../clickhouse/tables.js';

/**
 * The WHERE-clause patterns every panel uses, so a filter means the same thing on every dashboard.
 * `$__conditionalAll(cond, $var)` is expanded by the plugin in the browser: it becomes `1=1` when
 * the variable is All or empty, so an unused filter costs nothing. Its condition must not contain a
 * top-level comma (the plugin splits the arguments on commas outside parentheses).
 */

/** A multi-value dropdown: the values come from our own data, quoted by Grafana. */
export const anyOf = (column: string, variable: string) =>
  `$__conditionalAll(${column} IN (\${${variable}:singlequote}), $${variable})`;

/**
 * Free text from a text box as a string literal no input can leave. Grafana's `singlequote`
 * escapes ' as \' but leaves a backslash alone, so `\'` would close the string; percent-encoding
 * leaves only [A-Za-z0-9-_.~%] inside the quotes and ClickHouse decodes it back (a constant, so
 * the bloom-filter indexes and the by_link projection still apply).
 */
export const textValue = (variable: string) => `trimBoth(decodeURLComponent('\${${variable}:percentencode}'))`;

/** An optional text-box search: no filter while the box is empty. */
export const matchesText = (column: string, variable: string) =>
  `$__conditionalAll(${column} = ${textValue(variable)}, $${variable})`;

/** A detail view's key: an empty box matches nothing rather than everything. */
export const equalsRequiredText = (column: string, variable: string) =>
  `${column} = ${textValue(variable)} AND ${column} != ''`;

/** Several filters joined for a WHERE clause, one per line. */
export const allOf = (...conditions: string[]) => conditions.join('\n    AND ');

/**
 * True while none of these dropdowns narrows anything (each is All or empty). The plugin expands
 * it to constants (`1=1`, or `1=0` for a dropdown with a selection), so ClickHouse folds it: a
 * UNION ALL branch guarded by it, or by its negation, reads nothing while its guard is false.
 */
export const noneSelected = (...variables: string[]) => `(${variables.map((v) => `$__conditionalAll(1=0, $${v})`).join(' AND ')})`;

/**
 * The time range on a DateTime64(3) column. The plugin's `$__timeFilter` cuts both bounds to whole
 * seconds (pkg/macros/macros.go TimeFilter: toDateTime(unix seconds)), which drops the last
 * second's newest rows and lets in rows from before `from`; the `_ms` variant compares in
 * milliseconds. `$__timeFilter` stays right for the rollups' DateTime minute columns.
 */
export const timeFilterMs = (column: string) => `$__timeFilter_ms(${column})`;

/**
 * The time range on a raw table (request_logs, webhook_attempts), with the hour bound it implies:
 * their sort key starts with toStartOfHour(timestamp), so the bound lets the engine skip granules.
 * Whole-second bounds are exact for that: a second never straddles an hour.
 */
export const rawTimeFilter = (column: string) => `${timeFilterMs(column)} AND ${hourKeyBound(column, '$__fromTime', '$__toTime')}`;
