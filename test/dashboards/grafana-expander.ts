/**
 * What happens to a panel's rawSql between the dashboard JSON and ClickHouse, re-implemented for
 * the tests from the sources of Grafana 12.2, @grafana/scenes and grafana-clickhouse-datasource
 * 4.20.0 (read, not copied; each step names the file it follows):
 *   0. loading the JSON gives each variable a value (loadedVariables) and each panel an interval
 *      (panelIntervalMs),
 *   1. the plugin's frontend expands $__conditionalAll (applyConditionalAll),
 *   2. Scenes interpolates template variables with their formats (interpolateVariables),
 *   3. the plugin's backend strips comments and expands its macros with grafana/macropro
 *      (expandMacros).
 * test/dashboards/grafana-expander.test.ts runs the plugin's own macro test cases through it.
 */

/** A variable's value as Scenes holds it: a string, an array for multi-value, undefined if unset. */
export type VariableValue = string | string[] | undefined;
export const ALL = '$__all';

export interface TemplateVariable {
  value: VariableValue;
  /** The dropdown's options: what All stands for when there is no allValue. */
  options?: string[];
  /** A custom "All" value, inserted as it is instead of the options. */
  allValue?: string;
}

export interface QueryContext {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  variables: Record<string, TemplateVariable>;
}

/** The parts of a template variable's saved JSON that decide its value on load. */
export interface VariableJson {
  type: string;
  name: string;
  query?: unknown;
  current?: { text?: unknown; value?: unknown };
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string | null;
}

/**
 * Step 0: the value each variable holds once Grafana has loaded the dashboard JSON, before anyone
 * touches a control. Follows grafana public/app/features/dashboard-scene/utils/variables.ts
 * (createSceneVariableFromVariableModel) and @grafana/scenes MultiValueVariable.ts:
 * - a text box takes `current.value`, or `query` when that is empty: no query means `undefined`;
 * - a dropdown takes `current.value` (or ''), then keeps only values among its options; with none
 *   left it falls back to All when it includes All (defaultToAll), else to its first option.
 * `optionsOf` gives a dropdown's options (its custom list, or its query's result).
 */
export function loadedVariables(list: VariableJson[], optionsOf: (v: VariableJson) => string[]): Record<string, TemplateVariable> {
  const variables: Record<string, TemplateVariable> = {};
  for (const v of list) {
    if (v.type === 'textbox') {
      const current = v.current?.value;
      const value = !current ? v.query : typeof current === 'string' ? current : (current as string[])[0];
      variables[v.name] = { value: value as VariableValue };
    } else if (v.type === 'custom' || v.type === 'query') {
      const options = optionsOf(v);
      variables[v.name] = { value: validDropdownValue(v, options), options, ...(v.allValue ? { allValue: v.allValue } : {}) };
    } else if (v.type === 'datasource') {
      variables[v.name] = { value: String(v.current?.value ?? '') };
    } else {
      throw new Error(`variable type ${v.type} is not modelled by this expander`);
    }
  }
  return variables;
}

function validDropdownValue(v: VariableJson, options: string[]): VariableValue {
  const saved = (v.current?.value ?? '') as string | string[];
  const values = Array.isArray(saved) ? saved : [saved];
  if (v.includeAll && values.includes(ALL)) return v.multi ? [ALL] : ALL;
  const valid = values.filter((x) => options.includes(x));
  if (valid.length > 0) return v.multi ? valid : valid[0];
  const fallback = v.includeAll ? ALL : (options[0] ?? '');
  return v.multi ? [fallback] : fallback;
}

/** grafana packages/grafana-data/src/datetime/rangeutil.ts roundInterval: the "nice" interval ladder. */
const intervalLadder: [below: number, interval: number][] = [
  [10, 1], [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000],
  [7500, 5000], [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000], [90000, 60000],
  [210000, 120000], [450000, 300000], [750000, 600000], [1050000, 900000], [1500000, 1200000],
  [2700000, 1800000], [5400000, 3600000], [9000000, 7200000], [16200000, 10800000], [32400000, 21600000],
  [86400000, 43200000], [604800000, 86400000], [1814400000, 604800000], [3628800000, 2592000000],
];

export function roundInterval(intervalMs: number): number {
  return intervalLadder.find(([below]) => intervalMs < below)?.[1] ?? 31536000000;
}

const intervalUnitsMs: Record<string, number> = { y: 31536000000, M: 2592000000, w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };

/** rangeutil.ts intervalToMs: '1m' -> 60000 (a bare number is seconds). */
export function intervalToMs(text: string): number {
  if (Number(text)) return Number.parseInt(text, 10) * 1000;
  const m = /^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])/.exec(text);
  if (!m) throw new Error(`invalid interval ${text}`);
  return Number.parseInt(m[1]!, 10) * intervalUnitsMs[m[2]!]!;
}

/**
 * The interval a panel's query runs with: range / resolution rounded to the ladder, no lower than
 * the panel's `interval` (its min interval). rangeutil.ts calculateInterval, called by Scenes
 * SceneQueryRunner with the panel's maxDataPoints or its width in pixels as the resolution.
 */
export function panelIntervalMs(rangeMs: number, resolution: number, minInterval?: string): number {
  const lowLimit = minInterval ? intervalToMs(minInterval) : 1;
  return Math.max(roundInterval(rangeMs / resolution), lowLimit);
}

/**
 * grafana-clickhouse-datasource src/data/CHDatasource.ts getMacroArgs (v4.20.0): splits on commas
 * outside parentheses. It does not know quotes: a comma inside a string literal splits too.
 */
function conditionalAllArgs(query: string, openParen: number): string[] {
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

/**
 * Step 1: the plugin's applyConditionalAll (src/data/CHDatasource.ts, v4.20.0), innermost-last.
 * `$__conditionalAll(cond, $var)` becomes `1=1` when $var's value, as a string, is '' or All;
 * otherwise `cond`. An unknown variable keeps `cond`. A known variable whose value is undefined
 * throws, as the plugin's `current.value.toString()` does.
 */
export function applyConditionalAll(query: string, variables: Record<string, TemplateVariable>): string {
  const macro = '$__conditionalAll(';
  let at = query.lastIndexOf(macro);
  while (at !== -1) {
    const params = conditionalAllArgs(query, at + macro.length - 1);
    if (params.length !== 2) return query;
    const [condition, variableArg] = params as [string, string];
    const name = /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/.exec(variableArg.trim());
    let phrase = condition;
    if (name) {
      const variable = variables[name[0]];
      if (variable) {
        if (variable.value === undefined) throw new TypeError(`Cannot read properties of undefined (reading 'toString'): $${name[0]}`);
        const value = variable.value.toString();
        if (value === '' || value === ALL) phrase = '1=1';
      }
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

/** @grafana/scenes src/variables/interpolation/formatRegistry.ts, the formats our SQL uses. */
const formats: Record<string, (value: string | string[]) => string> = {
  singlequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'/g, "\\'")}'`).join(','),
  percentencode: (v) => encodeURIComponentStrict(Array.isArray(v) ? `{${v.join(',')}}` : v),
  raw: (v) => String(v),
  queryparam: () => {
    throw new Error('queryparam belongs in links, not SQL');
  },
};
/** The plugin's own format for a bare $var (CHDatasource.ts format): arrays become 'a','b'. */
const pluginDefault = (v: string | string[]) => (Array.isArray(v) ? `'${v.join("','")}'` : v);

const variablePattern = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;

/**
 * Step 2: Scenes' interpolation (sceneInterpolator.ts). Unknown names (the backend's macros) are
 * left alone; an undefined value becomes ''. All becomes the options, formatted, or with an
 * allValue that value as it is (CustomAllValue: only text/percentencode/queryparam re-format it).
 */
export function interpolateVariables(query: string, variables: Record<string, TemplateVariable>): string {
  return query.replace(variablePattern, (match, bare, bracket, bracketFormat, braced, _path, bracedFormat) => {
    const name: string = bare ?? bracket ?? braced;
    const variable = variables[name];
    if (!variable) return match;
    if (variable.value === undefined) return '';
    const formatName: string | undefined = bracketFormat ?? bracedFormat;
    const isAll = variable.value.toString() === ALL;
    if (isAll && variable.allValue !== undefined && (!formatName || !['percentencode', 'queryparam'].includes(formatName))) return variable.allValue;
    if (isAll && !variable.options) throw new Error(`All selected for $${name} but its options are unknown`);
    const value = isAll ? variable.options! : variable.value;
    if (!formatName) return pluginDefault(value);
    const format = formats[formatName];
    if (!format) throw new Error(`format ${formatName} is not modelled by this expander`);
    return format(value);
  });
}

/**
 * The end of a string literal that starts at `pos`: doubled quotes and (ClickHouse's default,
 * macropro's BackslashEscape flag) backslash escapes stay inside; unterminated runs to the end.
 */
function endOfLiteral(s: string, pos: number): number {
  const quote = s[pos];
  let j = pos + 1;
  while (j < s.length) {
    if (s[j] === '\\') j += 2;
    else if (s[j] === quote && s[j + 1] === quote) j += 2;
    else if (s[j] === quote) return j + 1;
    else j++;
  }
  return s.length;
}

/**
 * grafana/macropro StripComments with LineComment | BlockComment | BackslashEscape (the flags the
 * plugin passes in pkg/macros/macros.go): `--` to the end of the line and `/* ... *\/` (to the end
 * of the input when unterminated) outside string literals become spaces of the same length.
 */
export function stripComments(query: string): string {
  let out = '';
  let i = 0;
  while (i < query.length) {
    const c = query[i]!;
    if (c === "'" || c === '"') {
      const end = endOfLiteral(query, i);
      out += query.slice(i, end);
      i = end;
    } else if (c === '-' && query[i + 1] === '-') {
      let j = i;
      while (j < query.length && query[j] !== '\n' && query[j] !== '\r') j++;
      out += ' '.repeat(j - i);
      i = j;
    } else if (c === '/' && query[i + 1] === '*') {
      const close = query.indexOf('*/', i + 2);
      const j = close === -1 ? query.length : close + 2;
      out += ' '.repeat(j - i);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** macropro findClosingParen: the `)` closing the `(` at `open`, skipping string literals. */
function closingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; ) {
    const c = s[i];
    if (c === "'" || c === '"') {
      i = endOfLiteral(s, i);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
    i++;
  }
  return -1;
}

/** macropro parseArgs: top-level commas split, string literals and parentheses do not; trimmed. */
function macroArgs(raw: string): string[] {
  raw = raw.trim();
  if (raw === '') return [];
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < raw.length; ) {
    const c = raw[i];
    if (c === "'" || c === '"') {
      i = endOfLiteral(raw, i);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      if (depth === 0) throw new Error(`unexpected ')' at position ${i}`);
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(raw.slice(start, i).trim());
      start = i + 1;
    }
    i++;
  }
  if (depth !== 0) throw new Error('unbalanced parentheses in arguments');
  args.push(raw.slice(start).trim());
  return args;
}

type MacroContext = Pick<QueryContext, 'fromMs' | 'toMs' | 'intervalMs'> & { table?: string; column?: string };
type Macro = (ctx: MacroContext, args: string[]) => string;

const arity = (name: string, want: number, args: string[]) => {
  if (args.length !== want) throw new Error(`$__${name} expected ${want} argument(s), received ${args.length}`);
};
const toDateTime = (ms: number) => `toDateTime(${Math.floor(ms / 1000)})`;
const toDateTime64 = (ms: number) => `fromUnixTimestamp64Milli(${ms})`;
const toDate = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
const intervalSeconds = (ctx: MacroContext) => Math.trunc(Math.max(ctx.intervalMs / 1000, 1));

/** macropro FormatDuration: the largest whole unit (5m, 2h, 300s), else milliseconds. */
function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  ms = Math.abs(ms);
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.trunc(ms)}ms`;
}

/** Go's time.ParseDuration, for $__timeGroup's interval argument: '5m', '1h30m', '1.5s'. */
function parseGoDurationMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$/.test(text)) throw new Error(`$__timeGroup: invalid interval "${text}"`);
  let total = 0;
  for (const m of text.matchAll(/([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

/** The plugin's macro set (pkg/macros/macros.go ClickHouseMacros over macropro DefaultMacros, v4.20.0). */
const macros: Record<string, Macro> = {
  interval: (ctx) => formatDuration(ctx.intervalMs),
  interval_ms: (ctx) => String(ctx.intervalMs),
  interval_s: (ctx) => String(intervalSeconds(ctx)),
  table: (ctx) => {
    if (!ctx.table) throw new Error('$__table: no table name in query context');
    return ctx.table;
  },
  column: (ctx) => {
    if (!ctx.column) throw new Error('$__column: no column name in query context');
    return ctx.column;
  },
  fromTime: (ctx) => toDateTime(ctx.fromMs),
  toTime: (ctx) => toDateTime(ctx.toMs),
  fromTime_ms: (ctx) => toDateTime64(ctx.fromMs),
  toTime_ms: (ctx) => toDateTime64(ctx.toMs),
  timeFilter: (ctx, args) => {
    arity('timeFilter', 1, args);
    return `${args[0]} >= ${toDateTime(ctx.fromMs)} AND ${args[0]} <= ${toDateTime(ctx.toMs)}`;
  },
  timeFilter_ms: (ctx, args) => {
    arity('timeFilter_ms', 1, args);
    return `${args[0]} >= ${toDateTime64(ctx.fromMs)} AND ${args[0]} <= ${toDateTime64(ctx.toMs)}`;
  },
  dateFilter: (ctx, args) => {
    arity('dateFilter', 1, args);
    return `${args[0]} >= ${toDate(ctx.fromMs)} AND ${args[0]} <= ${toDate(ctx.toMs)}`;
  },
  dateTimeFilter: (ctx, args) => {
    arity('dateTimeFilter', 2, args);
    const [d, t] = args as [string, string];
    return `(${d} >= ${toDate(ctx.fromMs)} AND ${d} <= ${toDate(ctx.toMs)}) AND (${t} >= ${toDateTime(ctx.fromMs)} AND ${t} <= ${toDateTime(ctx.toMs)})`;
  },
  timeInterval: (ctx, args) => {
    arity('timeInterval', 1, args);
    return `toStartOfInterval(toDateTime(${args[0]}), INTERVAL ${intervalSeconds(ctx)} second)`;
  },
  timeInterval_ms: (ctx, args) => {
    arity('timeInterval_ms', 1, args);
    return `toStartOfInterval(toDateTime64(${args[0]}, 3), INTERVAL ${Math.trunc(Math.max(ctx.intervalMs, 1))} millisecond)`;
  },
  timeFrom: (ctx, args) => {
    arity('timeFrom', 1, args);
    return `${args[0]} >= ${toDateTime(ctx.fromMs)}`;
  },
  timeTo: (ctx, args) => {
    arity('timeTo', 1, args);
    return `${args[0]} <= ${toDateTime(ctx.toMs)}`;
  },
  timeGroup: (_ctx, args) => {
    arity('timeGroup', 2, args);
    const seconds = Math.round(parseGoDurationMs(args[1]!.trim().replace(/^['"]+|['"]+$/g, '')) / 1000);
    if (seconds <= 0) throw new Error(`$__timeGroup: interval must be positive, got "${args[1]}"`);
    return `toStartOfInterval(toDateTime(${args[0]!.trim()}), INTERVAL ${seconds} second)`;
  },
};
macros.dt = macros.dateTimeFilter!;

/** Longest name first, so $__timeFilter_ms is never read as $__timeFilter (macropro Interpolate). */
const macroNames = Object.keys(macros).sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);

function expandMacro(query: string, name: string, ctx: MacroContext): string {
  const token = `$__${name}`;
  let out = '';
  let rest = query;
  for (;;) {
    const at = rest.indexOf(token);
    if (at === -1) return out + rest;
    const after = at + token.length;
    if (isNameChar(rest[after])) {
      out += rest.slice(0, after);
      rest = rest.slice(after);
      continue;
    }
    out += rest.slice(0, at);
    rest = rest.slice(after);
    let raw = '';
    if (rest[0] === '(') {
      const close = closingParen(rest, 0);
      // Unbalanced: read as a call without arguments, the parenthesis stays in the SQL.
      if (close !== -1) {
        raw = rest.slice(1, close);
        rest = rest.slice(close + 1);
      }
    }
    // Macros inside the arguments expand first (macropro 1.0.1, "expand macros nested inside macro arguments").
    const args = macroArgs(raw).map((arg) => expandAll(arg, ctx));
    out += macros[name]!(ctx, args);
  }
}

function expandAll(query: string, ctx: MacroContext): string {
  return macroNames.reduce((q, name) => expandMacro(q, name, ctx), query);
}

/**
 * Step 3: the plugin backend (pkg/macros/macros.go Interpolate -> macropro.Interpolate): comments
 * stripped first, then every known macro expanded; unknown `$__name`s stay in the SQL as they are,
 * a macro with wrong arguments is an error.
 */
export function expandMacros(query: string, ctx: MacroContext): string {
  return expandAll(stripComments(query), ctx);
}

/** The SQL ClickHouse receives for a target, as Grafana and the plugin would send it. */
export function expandQuery(rawSql: string, ctx: QueryContext): string {
  return expandMacros(interpolateVariables(applyConditionalAll(rawSql, ctx.variables), ctx.variables), ctx);
}
