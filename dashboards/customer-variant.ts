import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboards } from './index.js';

/**
 * The dashboards a customer gets: the operator's dashboards without the customer dropdown.
 * Derived from the built dashboards, so both variants always have the same panels and SQL.
 * The customer's data source reads its tenant database (tenancy/), whose views hold only its
 * rows, so the dropdown had nothing to choose; every condition on it becomes `1=1`, exactly what
 * Grafana sends for it with All selected (test/dashboards runs that case on the operator boards).
 * Alert history then shows the alerts of that customer only (per-institution alerts have no
 * customer and stay with operators).
 */
export const customerVariable = 'customer';

/** The arguments of a macro call starting at `open` (a '('), split like the plugin does. */
function macroCall(text: string, open: number): { args: string[]; end: number } | undefined {
  let depth = 0;
  let start = open + 1;
  const args: string[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(text.slice(start, i));
      return { args, end: i + 1 };
    }
  }
  return undefined;
}

const refersTo = (arg: string, name: string) => new RegExp(`^\\s*\\$(?:\\{${name}\\}|${name})\\s*$`).test(arg);

/** Every `$__conditionalAll(cond, $customer)` replaced by what it expands to with All: `1=1`. */
export function withoutCustomerConditions(sql: string, name = customerVariable): string {
  const macro = '$__conditionalAll';
  let out = '';
  let at = 0;
  for (let i = sql.indexOf(macro); i !== -1; i = sql.indexOf(macro, at)) {
    const call = sql[i + macro.length] === '(' ? macroCall(sql, i + macro.length) : undefined;
    if (call && call.args.length === 2 && refersTo(call.args[1]!, name)) {
      out += `${sql.slice(at, i)}1=1`;
    } else {
      out += sql.slice(at, i + macro.length);
      at = i + macro.length;
      continue;
    }
    at = call.end;
  }
  return out + sql.slice(at);
}

/** A link that carries the customer filter to another dashboard, without it. */
const withoutCarriedCustomer = (url: string, name = customerVariable) => url.replaceAll(`&\${${name}:queryparam}`, '');

function rewriteStrings(value: unknown, rewrite: (s: string) => string): unknown {
  if (typeof value === 'string') return rewrite(value);
  if (Array.isArray(value)) return value.map((v) => rewriteStrings(v, rewrite));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteStrings(v, rewrite)]));
  return value;
}

export class CustomerVariantError extends Error {}

/** One operator dashboard as its customer variant; refuses to return one that still refers to the dropdown. */
export function customerVariant(board: dashboard.Dashboard): dashboard.Dashboard {
  const model = JSON.parse(JSON.stringify(board)) as dashboard.Dashboard;
  if (model.templating?.list) model.templating.list = model.templating.list.filter((v) => v.name !== customerVariable);
  const variant = rewriteStrings(model, (s) => withoutCarriedCustomer(withoutCustomerConditions(s))) as dashboard.Dashboard;
  const left = new RegExp(`\\$(?:\\{${customerVariable}[}:.]|${customerVariable}\\b)|var-${customerVariable}=`).exec(JSON.stringify(variant));
  if (left) throw new CustomerVariantError(`${board.uid}: the customer variant still refers to the customer dropdown (${left[0]})`);
  return variant;
}

/** Every dashboard we ship, in its customer variant. */
export function buildCustomerDashboards(): dashboard.Dashboard[] {
  return buildDashboards().map(customerVariant);
}
