import { describe, expect, it } from 'vitest';
import { anyOf, matchesText } from '../../dashboards/sql-filters.js';
import {
  ALL,
  applyConditionalAll,
  expandMacros,
  expandQuery,
  interpolateVariables,
  loadedVariables,
  panelIntervalMs,
  stripComments,
  type TemplateVariable,
  type VariableJson,
} from './grafana-expander.js';

/**
 * The plugin's own test cases, written here as data from reading grafana-clickhouse-datasource
 * v4.20.0: pkg/macros/macros_test.go (backend macros) and the $__conditionalAll cases of
 * src/data/CHDatasource.test.ts. Each runs through our expander, which must give the plugin's answer.
 */
const t2014 = Date.parse('2014-11-12T11:45:26.371Z');
const t2015 = Date.parse('2015-11-12T11:45:26.371Z');
const i2014 = Date.parse('2014-11-12T11:45:26.123Z');
const i2015 = Date.parse('2015-11-12T11:45:26.456Z');

interface MacroCase {
  /** the Go test (and subtest) it comes from */
  source: string;
  sql: string;
  fromMs: number;
  toMs: number;
  intervalMs: number;
  /** the expanded SQL, or an error */
  expected: string | Error;
}

const range = (fromMs: number, toMs: number, intervalMs = 0) => ({ fromMs, toMs, intervalMs });
const wide = range(t2014, t2015);
const noRange = (intervalMs: number) => range(0, 0, intervalMs);
const interp = range(i2014, i2015);
const nested = range(i2014, i2015, 60_000);
const err = new Error('wrong arguments');

const macroCases: MacroCase[] = [
  // helpers, through the macros that call them
  { source: 'TestTimeToDate (via $__dateFilter)', sql: '$__dateFilter(c)', ...range(t2014, t2014), expected: "c >= toDate('2014-11-12') AND c <= toDate('2014-11-12')" },
  { source: 'TestTimeToDateTime (via $__fromTime)', sql: '$__fromTime', ...range(1708430068000, 1708430068000), expected: 'toDateTime(1708430068)' },
  { source: 'TestTimeToDateTime64 (via $__fromTime_ms)', sql: '$__fromTime_ms', ...range(1708430068123, 1708430068123), expected: 'fromUnixTimestamp64Milli(1708430068123)' },
  // one macro each
  { source: 'TestMacroFromTimeFilter', sql: '$__fromTime', ...wide, expected: 'toDateTime(1415792726)' },
  { source: 'TestMacroToTimeFilter', sql: '$__toTime', ...wide, expected: 'toDateTime(1447328726)' },
  { source: 'TestMacroFromTimeFilterMs', sql: '$__fromTime_ms', ...wide, expected: 'fromUnixTimestamp64Milli(1415792726371)' },
  { source: 'TestMacroToTimeFilterMs', sql: '$__toTime_ms', ...wide, expected: 'fromUnixTimestamp64Milli(1447328726371)' },
  { source: 'TestMacroDateFilter', sql: '$__dateFilter(dateCol)', ...wide, expected: "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')" },
  {
    source: 'TestMacroDateTimeFilter',
    sql: '$__dateTimeFilter(dateCol, timeCol)',
    ...wide,
    expected: "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND (timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))",
  },
  { source: 'TestMacroTimeInterval', sql: '$__timeInterval(col)', ...noRange(20_000), expected: 'toStartOfInterval(toDateTime(col), INTERVAL 20 second)' },
  { source: 'TestMacroTimeIntervalMs', sql: '$__timeInterval_ms(col)', ...noRange(20_000), expected: 'toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond)' },
  { source: 'TestMacroIntervalSeconds', sql: '$__interval_s', ...noRange(20_000), expected: '20' },
  { source: 'TestMacroTimeFrom', sql: '$__timeFrom(ts)', ...wide, expected: 'ts >= toDateTime(1415792726)' },
  { source: 'TestMacroTimeFrom (no argument)', sql: '$__timeFrom()', ...wide, expected: err },
  { source: 'TestMacroTimeTo', sql: '$__timeTo(ts)', ...wide, expected: 'ts <= toDateTime(1447328726)' },
  { source: 'TestMacroTimeTo (no argument)', sql: '$__timeTo()', ...wide, expected: err },
  { source: 'TestMacroTimeGroup 5m', sql: '$__timeGroup(ts, 5m)', ...noRange(0), expected: 'toStartOfInterval(toDateTime(ts), INTERVAL 300 second)' },
  { source: 'TestMacroTimeGroup 1h', sql: '$__timeGroup(ts, 1h)', ...noRange(0), expected: 'toStartOfInterval(toDateTime(ts), INTERVAL 3600 second)' },
  { source: 'TestMacroTimeGroup (one argument)', sql: '$__timeGroup(ts)', ...noRange(0), expected: err },
  { source: 'TestMacroTimeGroup (not a duration)', sql: '$__timeGroup(ts, not-a-duration)', ...noRange(0), expected: err },
  // TestMacroErrorsAreDownstream: wrong arity is an error (the Go test also checks its error class)
  ...(
    [
      ['TimeFilter', '$__timeFilter'],
      ['TimeFilterMs', '$__timeFilter_ms'],
      ['DateFilter', '$__dateFilter'],
      ['DateTimeFilter', '$__dateTimeFilter(d)'],
      ['TimeInterval', '$__timeInterval'],
      ['TimeIntervalMs', '$__timeInterval_ms'],
      ['TimeFrom', '$__timeFrom'],
      ['TimeTo', '$__timeTo'],
      ['TimeGroup', '$__timeGroup(ts)'],
      ['TimeGroup bad duration', '$__timeGroup(ts, nope)'],
    ] as const
  ).map(([name, sql]) => ({ source: `TestMacroErrorsAreDownstream ${name}`, sql, ...noRange(0), expected: err })),
  // TestInterpolate
  ...(
    [
      ['clickhouse timeFilter', 'select * from foo where $__timeFilter(cast(sth as timestamp))', 'select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)'],
      ['clickhouse timeFilter with empty spaces', 'select * from foo where $__timeFilter(cast(sth as timestamp) )', 'select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)'],
      ['clickhouse timeFilter_ms', 'select * from foo where $__timeFilter_ms(cast(sth as timestamp))', 'select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)'],
      ['clickhouse timeFilter_ms with empty spaces', 'select * from foo where $__timeFilter_ms(cast(sth as timestamp) )', 'select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)'],
      ['clickhouse fromTime and toTime', 'select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100', 'select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100'],
      ['clickhouse fromTime and toTime inside a complex clauses', 'select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100', 'select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100'],
      ['clickhouse fromTime_ms and toTime_ms', 'select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100', 'select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100'],
      ['clickhouse fromTime_ms and toTime_ms inside a complex clauses', 'select * from foo where ( date >= $__fromTime_ms ) and ( date <= $__toTime_ms ) limit 100', 'select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) ) and ( date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100'],
    ] as const
  ).map(([name, sql, expected]) => ({ source: `TestInterpolate ${name}`, sql, ...interp, expected })),
  // TestInterpolateNestedMacros
  { source: 'TestInterpolateNestedMacros sole argument', sql: 'SELECT $__timeInterval($__fromTime) AS from_time', ...nested, expected: 'SELECT toStartOfInterval(toDateTime(toDateTime(1415792726)), INTERVAL 60 second) AS from_time' },
  { source: 'TestInterpolateNestedMacros millisecond variants', sql: 'SELECT $__timeInterval_ms($__fromTime_ms)', ...nested, expected: 'SELECT toStartOfInterval(toDateTime64(fromUnixTimestamp64Milli(1415792726123), 3), INTERVAL 60000 millisecond)' },
  {
    source: 'TestInterpolateNestedMacros inside a larger argument',
    sql: 'select * from foo where $__timeFilter(coalesce(closed_at, $__toTime))',
    ...nested,
    expected: 'select * from foo where coalesce(closed_at, toDateTime(1447328726)) >= toDateTime(1415792726) AND coalesce(closed_at, toDateTime(1447328726)) <= toDateTime(1447328726)',
  },
  // TestInterpolateBackslashEscapedStringLiterals
  { source: 'TestInterpolateBackslashEscapedStringLiterals -- in literal', sql: "select * from foo where msg = 'it\\'s -- fine' and $__fromTime", ...interp, expected: "select * from foo where msg = 'it\\'s -- fine' and toDateTime(1415792726)" },
  { source: 'TestInterpolateBackslashEscapedStringLiterals /* in literal', sql: "select * from foo where msg = 'a\\'/*x' and $__toTime", ...interp, expected: "select * from foo where msg = 'a\\'/*x' and toDateTime(1447328726)" },
  { source: 'TestInterpolateBackslashEscapedStringLiterals doubled quote', sql: "select * from foo where msg = 'it''s' and $__fromTime", ...interp, expected: "select * from foo where msg = 'it''s' and toDateTime(1415792726)" },
];

/**
 * Every test function of macros_test.go is above; the three helper tests (timeToDate,
 * timeToDateTime, timeToDateTime64) run through the macros that call them. What is not ported is
 * Go error typing: TestMacroErrorsAreDownstream's check that errors are "downstream" and its
 * subtest "arg-count errors unwrap to ErrorBadArgumentCount". Here a wrong call only has to fail.
 */
describe('the plugin backend macro cases (pkg/macros/macros_test.go, v4.20.0)', () => {
  it('all of them are here', () => {
    expect(macroCases).toHaveLength(44);
  });

  it.each(macroCases)('$source', ({ sql, fromMs, toMs, intervalMs, expected }) => {
    if (expected instanceof Error) expect(() => expandMacros(sql, { fromMs, toMs, intervalMs })).toThrow();
    else expect(expandMacros(sql, { fromMs, toMs, intervalMs })).toBe(expected);
  });
});

/** src/data/CHDatasource.test.ts, v4.20.0: the variable's current value is given as the plugin reads it. */
const conditionalAllCases: { source: string; sql: string; values: Record<string, string>; expected: string }[] = [
  { source: 'applyTemplateVariables: should handle $__conditionalAll and not replace', sql: '$__conditionalAll(foo, $fieldVal)', values: { fieldVal: "'val1', 'val2'" }, expected: 'foo' },
  { source: 'applyTemplateVariables: should handle $__conditionalAll and replace', sql: '$__conditionalAll(foo, $fieldVal)', values: { fieldVal: ALL }, expected: '1=1' },
  {
    source: 'Conditional All: 1=1 when all is selected',
    sql: 'select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);',
    values: { fieldVal: ALL },
    expected: 'select stuff from table where 1=1;',
  },
  {
    source: 'Conditional All: the argument when anything else is selected',
    sql: 'select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);',
    values: { fieldVal: "'val1', 'val2'" },
    expected: 'select stuff from table where fieldVal in ($fieldVal);',
  },
  {
    source: 'Conditional All: replaces all of them',
    sql: 'select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal) and $__conditionalAll(fieldVal in ($fieldVal2), $fieldVal2);',
    values: { fieldVal: "'val1', 'val2'", fieldVal2: ALL },
    expected: 'select stuff from table where fieldVal in ($fieldVal) and 1=1;',
  },
];

describe('the plugin frontend $__conditionalAll cases (src/data/CHDatasource.test.ts, v4.20.0)', () => {
  it('all of them are here', () => {
    expect(conditionalAllCases).toHaveLength(5);
  });

  it.each(conditionalAllCases)('$source', ({ sql, values, expected }) => {
    const variables = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, { value }]));
    expect(applyConditionalAll(sql, variables)).toBe(expected);
  });
});

describe('what the plugin and Grafana do that a simpler model gets wrong', () => {
  const ctx = { fromMs: 1_700_000_000_500, toMs: 1_700_003_600_900, intervalMs: 60_000 };

  it('unknown macros stay in the SQL (the plugin sends them on, ClickHouse rejects them)', () => {
    expect(expandMacros('SELECT $__notAMacro(x), $__timeFilterX', ctx)).toBe('SELECT $__notAMacro(x), $__timeFilterX');
  });

  it('comments are blanked before expansion: a macro in a comment never runs, even a broken one', () => {
    expect(expandMacros('SELECT 1 -- $__timeGroup(ts)\nFROM t /* $__timeFilter */ WHERE $__timeFilter(ts)', ctx)).toBe(
      `SELECT 1 ${' '.repeat('-- $__timeGroup(ts)'.length)}\nFROM t ${' '.repeat('/* $__timeFilter */'.length)} WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)`,
    );
    expect(stripComments("SELECT '--not a comment' /* unterminated $__fromTime")).toBe(`SELECT '--not a comment' ${' '.repeat(27)}`);
  });

  it('a comma or parenthesis inside a quoted argument does not split it', () => {
    expect(expandMacros("$__timeFilter(parseDateTimeBestEffort('2024-01-01, 00:00)'))", ctx)).toBe(
      "parseDateTimeBestEffort('2024-01-01, 00:00)') >= toDateTime(1700000000) AND parseDateTimeBestEffort('2024-01-01, 00:00)') <= toDateTime(1700003600)",
    );
  });

  it('an interval under a second still buckets by whole seconds; $__interval_ms is exact', () => {
    expect(expandMacros('$__timeInterval(t) $__interval_ms $__interval', { ...ctx, intervalMs: 200 })).toBe('toStartOfInterval(toDateTime(t), INTERVAL 1 second) 200 200ms');
  });
});

describe('variables as Grafana holds them after loading the JSON', () => {
  const textbox = (extra: Partial<VariableJson>): VariableJson => ({ type: 'textbox', name: 'link_id', ...extra });

  it('an empty text box with no query is undefined, and the plugin then throws on $__conditionalAll', () => {
    const vars = loadedVariables([textbox({ current: { text: '', value: '' } })], () => []);
    expect(vars.link_id!.value).toBeUndefined();
    expect(() => applyConditionalAll(matchesText('link_id', 'link_id'), vars)).toThrow(TypeError);
  });

  it("with query '' it is '' and the filter drops out; a saved value wins over the query", () => {
    expect(loadedVariables([textbox({ query: '', current: { text: '', value: '' } })], () => []).link_id!.value).toBe('');
    expect(loadedVariables([textbox({ query: 'q', current: { value: 'saved' } })], () => []).link_id!.value).toBe('saved');
    const vars = loadedVariables([textbox({ query: '' })], () => []);
    expect(expandQuery(matchesText('link_id', 'link_id'), { fromMs: 0, toMs: 0, intervalMs: 1000, variables: vars })).toBe('1=1');
  });

  it('a dropdown takes its saved value if it is an option, else All (with includeAll) or its first option', () => {
    const opts = () => ['GET', 'POST'];
    const custom = (extra: Partial<VariableJson>): VariableJson => ({ type: 'custom', name: 'method', multi: true, ...extra });
    expect(loadedVariables([custom({ includeAll: true, current: { value: [ALL] } })], opts).method!.value).toEqual([ALL]);
    expect(loadedVariables([custom({ includeAll: true })], opts).method!.value).toEqual([ALL]);
    expect(loadedVariables([custom({ includeAll: false })], opts).method!.value).toEqual(['GET']);
    expect(loadedVariables([custom({ includeAll: false, current: { value: ['POST'] } })], opts).method!.value).toEqual(['POST']);
    expect(loadedVariables([custom({ includeAll: false, current: { value: ['PUT'] } })], opts).method!.value).toEqual(['GET']);
    expect(loadedVariables([{ type: 'custom', name: 'm', current: { value: 'POST' } }], opts).m!.value).toBe('POST');
  });

  it('All without allValue lists the options; with allValue inserts it as it is', () => {
    const without: Record<string, TemplateVariable> = { institution: { value: [ALL], options: ['erebor', 'gotham'] } };
    expect(interpolateVariables('${institution:singlequote}|$institution', without)).toBe("'erebor','gotham'|'erebor','gotham'");
    const withAllValue: Record<string, TemplateVariable> = { institution: { value: [ALL], options: ['erebor'], allValue: '.*' } };
    expect(interpolateVariables('${institution:singlequote}|$institution', withAllValue)).toBe('.*|.*');
    // $__conditionalAll looks at the value, not at allValue: still 1=1
    expect(applyConditionalAll(anyOf('institution', 'institution'), withAllValue)).toBe('1=1');
  });
});

describe('$__conditionalAll with ${var:singlequote}', () => {
  const institution = (value: string | string[]) => ({ institution: { value, options: ['erebor', 'gotham', 'ofelia'] } });
  const filter = anyOf('institution', 'institution');

  it('one value, several values, All', () => {
    for (const [value, expected] of [
      [['gotham'], "institution IN ('gotham')"],
      [['erebor', 'gotham'], "institution IN ('erebor','gotham')"],
      [[ALL], '1=1'],
    ] as const) {
      const vars = institution([...value]);
      expect(interpolateVariables(applyConditionalAll(filter, vars), vars)).toBe(expected);
    }
  });

  it('a filled text box: the condition, percent-encoded', () => {
    expect(expandQuery(matchesText('link_id', 'link_id'), { fromMs: 0, toMs: 0, intervalMs: 1000, variables: { link_id: { value: "o'k" } } })).toBe(
      "link_id = trimBoth(decodeURLComponent('o%27k'))",
    );
  });

  it('a single value in singlequote escapes a quote with a backslash, as Grafana does', () => {
    expect(interpolateVariables('${v:singlequote}', { v: { value: "a'b" } })).toBe("'a\\'b'");
  });
});

describe("the panel's interval (rangeutil.calculateInterval)", () => {
  it('a 15-minute range on a 1000-pixel panel asks for 1 s buckets, or the min interval when it has one', () => {
    expect(panelIntervalMs(15 * 60_000, 1000)).toBe(1000);
    expect(panelIntervalMs(15 * 60_000, 1000, '1m')).toBe(60_000);
    expect(panelIntervalMs(7 * 86_400_000, 1000, '1m')).toBe(600_000);
  });
});
