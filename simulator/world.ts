/** The simulated open-finance world: who calls what, and how things fail. */

export const institutions = ['erebor_mx_retail', 'gringotts_br_retail', 'banco_azul_co', 'iron_bank_br_business', 'rivendell_mx_fiscal'] as const;
export const customers = ['acme_lending', 'fintrack_app', 'paywise'] as const;

/** The endpoint mix: data reads dominate, link management is rarer. */
export const endpoints: readonly { path: string; method: string; weight: number }[] = [
  { path: '/api/transactions/', method: 'POST', weight: 30 },
  { path: '/api/accounts/', method: 'POST', weight: 20 },
  { path: '/api/balances/', method: 'POST', weight: 12 },
  { path: '/api/owners/', method: 'POST', weight: 8 },
  { path: '/api/links/', method: 'GET', weight: 10 },
  { path: '/api/links/', method: 'POST', weight: 4 },
  { path: '/api/links/{id}/', method: 'PATCH', weight: 3 },
  { path: '/api/links/{id}/', method: 'DELETE', weight: 1 },
  { path: '/api/transactions/', method: 'GET', weight: 8 },
  { path: '/api/invoices/', method: 'POST', weight: 4 },
];

export interface ErrorKind {
  code: string;
  message: string;
  origin: 'internal' | 'institution';
}
export const errors: Readonly<Record<number, ErrorKind>> = {
  400: { code: 'request_error', message: 'The request body is invalid: date_from must be before date_to', origin: 'internal' },
  401: { code: 'invalid_credentials', message: 'The link credentials are no longer valid', origin: 'institution' },
  404: { code: 'not_found', message: 'The link does not exist', origin: 'internal' },
  408: { code: 'institution_timeout', message: 'The institution did not answer in time', origin: 'institution' },
  428: { code: 'token_required', message: 'A MFA token is required by the institution to login', origin: 'institution' },
  500: { code: 'unexpected_error', message: 'An unexpected error occurred on our side', origin: 'internal' },
  502: { code: 'institution_down', message: 'The institution is unavailable', origin: 'institution' },
  503: { code: 'institution_unavailable', message: 'The institution is under maintenance', origin: 'institution' },
  504: { code: 'institution_timeout', message: 'The institution did not answer in time', origin: 'institution' },
};

/** Data events sent after successful reads; LINKS events follow link status changes. */
export const dataEvents = [
  { type: 'TRANSACTIONS', event: 'new_transactions_available' },
  { type: 'ACCOUNTS', event: 'new_accounts_available' },
  { type: 'BALANCES', event: 'new_balances_available' },
  { type: 'LINKS', event: 'historical_update' },
] as const;

export const webhookUrl = (customer: string) => `https://hooks.${customer.replace(/_/g, '-')}.example/belvo`;
