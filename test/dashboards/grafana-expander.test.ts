import { describe, expect, it } from 'vitest';
import { anyOf, matchesText } from '../../dashboards/sql-filters.js';
import { ALL, applyConditionalAll, expandMacros, expandQuery, interpolateVariables } from './grafana-expander.js';

/** The expander the query tests rely on, checked against the behaviour in grafana-notes.md. */
const institution = (value: string | string[]) => ({ institution: { value, options: ['erebor', 'gotham', 'ofelia'] } });
const filter = anyOf('institution', 'institution');

describe('$__conditionalAll with ${var:singlequote}', () => {
  it('All selected: the condition becomes 1=1', () => {
    expect(interpolateVariables(applyConditionalAll(filter, institution([ALL])), institution([ALL]))).toBe('1=1');
  });

  it('one value: a quoted IN list of one', () => {
    const vars = institution(['gotham']);
    expect(interpolateVariables(applyConditionalAll(filter, vars), vars)).toBe("institution IN ('gotham')");
  });

  it('several values: quoted and comma-separated', () => {
    const vars = institution(['erebor', 'gotham']);
    expect(interpolateVariables(applyConditionalAll(filter, vars), vars)).toBe("institution IN ('erebor','gotham')");
  });

  it('an empty text box: 1=1; a filled one: the condition', () => {
    const sql = matchesText('link_id', 'link_id');
    expect(expandQuery(sql, { fromMs: 0, toMs: 0, intervalMs: 1000, variables: { link_id: { value: '' } } })).toBe('1=1');
    expect(expandQuery(sql, { fromMs: 0, toMs: 0, intervalMs: 1000, variables: { link_id: { value: "o'k" } } })).toBe(
      "link_id = trimBoth(decodeURLComponent('o%27k'))",
    );
  });

  it('several macros in one query, innermost-last like the plugin', () => {
    const vars = { ...institution(['erebor']), method: { value: [ALL], options: ['GET'] } };
    const sql = `${filter} AND ${anyOf('method', 'method')}`;
    expect(interpolateVariables(applyConditionalAll(sql, vars), vars)).toBe("institution IN ('erebor') AND 1=1");
  });

  it('a single value in singlequote escapes a quote with a backslash, as Grafana does', () => {
    expect(interpolateVariables('${v:singlequote}', { v: { value: "a'b" } })).toBe("'a\\'b'");
  });
});

describe('backend macros', () => {
  const ctx = { fromMs: 1_700_000_000_500, toMs: 1_700_003_600_900, intervalMs: 60_000 };

  it('expands time filters and intervals to seconds', () => {
    expect(expandMacros('$__timeFilter(ts)', ctx)).toBe('ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)');
    expect(expandMacros('$__timeInterval(minute)', ctx)).toBe('toStartOfInterval(toDateTime(minute), INTERVAL 60 second)');
    expect(expandMacros('$__fromTime_ms $__interval_s', ctx)).toBe('fromUnixTimestamp64Milli(1700000000500) 60');
  });

  it('refuses a macro the plugin does not expand', () => {
    expect(() => expandMacros('$__timeGroup(ts)', ctx)).toThrow(/not expanded/);
  });
});
