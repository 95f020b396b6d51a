/**
 * What happens to a panel's rawSql between the dashboard JSON and ClickHouse, re-implemented for
 * the tests after the sources in ../shared/grafana-notes.md:
 *   1. the plugin's frontend expands $__conditionalAll (grafana/clickhouse-datasource CHDatasource),
 *   2. Grafana interpolates template variables with their formats (grafana/scenes formatRegistry),
 *   3. the plugin's backend expands the time macros (grafana/clickhouse-datasource pkg/macros).
 */

/** A variable's current value: a text box holds a string, a multi-value dropdown an array. */
export type VariableValue = string | string[];
export const ALL = '$__all';

export interface TemplateVariable {
  value: VariableValue;
  /** The dropdown's options: what All stands for. */
  options?: string[];
}

export interface QueryContext {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  variables: Record<string, TemplateVariable>;
}

/** The plugin splits macro arguments on commas outside parentheses (it does not know quotes). */
function macroArgs(query: string, openParen: number): string[] {
  const args: string[] = [];
  const re = /\(|\)|,/g;
  let depth = 0;
  let argStart = 1;
  const rest = query.substring(openParen);
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    if (m[0] === '(') depth++;
    else if (m[0] === ')') depth--;
    if (m[0] === ',' && depth === 1) {
      args.push(rest.substring(argStart, re.lastIndex - 1));
      argStart = re.lastIndex;
    }
    if (depth === 0) {
      args.push(rest.substring(argStart, re.lastIndex - 1));
      return args;
    }
  }
  return [];
}

/** Step 1: `$__conditionalAll(cond, $var)` becomes `1=1` when $var is All or empty, else cond. */
export function applyConditionalAll(query: string, variables: Record<string, TemplateVariable>): string {
  const macro = '$__conditionalAll(';
  let at = query.lastIndexOf(macro);
  while (at !== -1) {
    const params = macroArgs(query, at + macro.length - 1);
    if (params.length !== 2) return query;
    const [condition, variableArg] = params as [string, string];
    const name = /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/.exec(variableArg.trim());
    let phrase = condition;
    if (name) {
      const value = variables[name[0]]?.value.toString();
      if (value === '' || value === ALL) phrase = '1=1';
    }
    // Same call as the plugin, including String.replace's treatment of `$` in the replacement.
    query = query.replace(`${macro}${condition},${variableArg})`, phrase);
    at = query.lastIndexOf(macro);
  }
  return query;
}

function encodeURIComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const formats: Record<string, (value: string | string[]) => string> = {
  singlequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'/g, "\\'")}'`).join(','),
  percentencode: (v) => encodeURIComponentStrict(Array.isArray(v) ? `{${v.join(',')}}` : v),
  raw: (v) => String(v),
  queryparam: () => {
    throw new Error('queryparam belongs in links, not SQL');
  },
};
/** The plugin's own format for a bare $var: arrays become 'a','b'; a single value goes in raw. */
const pluginDefault = (v: string | string[]) => (Array.isArray(v) ? `'${v.join("','")}'` : v);

const variablePattern = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;

/** Step 2: Grafana's template interpolation. Unknown names (the backend's macros) are left alone. */
export function interpolateVariables(query: string, variables: Record<string, TemplateVariable>): string {
  return query.replace(variablePattern, (match, bare, bracket, bracketFormat, braced, _path, bracedFormat) => {
    const name: string = bare ?? bracket ?? braced;
    const variable = variables[name];
    if (!variable) return match;
    const isAll = variable.value.toString() === ALL;
    if (isAll && !variable.options) throw new Error(`All selected for $${name} but its options are unknown`);
    const value = isAll ? variable.options! : variable.value;
    const formatName: string | undefined = bracketFormat ?? bracedFormat;
    if (!formatName) return pluginDefault(value);
    const format = formats[formatName];
    if (!format) throw new Error(`format ${formatName} is not modelled by this expander`);
    return format(value);
  });
}

/** Step 3: the plugin backend's macros (v4.20.0). Anything else starting with $__ is an error. */
export function expandMacros(query: string, ctx: Pick<QueryContext, 'fromMs' | 'toMs' | 'intervalMs'>): string {
  const fromS = Math.floor(ctx.fromMs / 1000);
  const toS = Math.floor(ctx.toMs / 1000);
  const intervalS = Math.max(Math.floor(ctx.intervalMs / 1000), 1);
  const date = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
  const expanded = query
    .replace(/\$__timeFilter_ms\(([^)]+)\)/g, (_, c: string) => `${c} >= fromUnixTimestamp64Milli(${ctx.fromMs}) AND ${c} <= fromUnixTimestamp64Milli(${ctx.toMs})`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, c: string) => `${c} >= toDateTime(${fromS}) AND ${c} <= toDateTime(${toS})`)
    .replace(/\$__dateFilter\(([^)]+)\)/g, (_, c: string) => `${c} >= ${date(ctx.fromMs)} AND ${c} <= ${date(ctx.toMs)}`)
    .replace(/\$__timeInterval_ms\(([^)]+)\)/g, (_, c: string) => `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${Math.max(ctx.intervalMs, 1)} millisecond)`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_, c: string) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${intervalS} second)`)
    .replace(/\$__fromTime_ms\b/g, `fromUnixTimestamp64Milli(${ctx.fromMs})`)
    .replace(/\$__toTime_ms\b/g, `fromUnixTimestamp64Milli(${ctx.toMs})`)
    .replace(/\$__fromTime\b/g, `toDateTime(${fromS})`)
    .replace(/\$__toTime\b/g, `toDateTime(${toS})`)
    .replace(/\$__interval_s\b/g, String(intervalS));
  const leftover = /\$__\w+/.exec(expanded);
  if (leftover) throw new Error(`macro ${leftover[0]} is not expanded by the plugin backend`);
  return expanded;
}

/** The SQL ClickHouse receives for a target, as Grafana and the plugin would send it. */
export function expandQuery(rawSql: string, ctx: QueryContext): string {
  return expandMacros(interpolateVariables(applyConditionalAll(rawSql, ctx.variables), ctx.variables), ctx);
}
