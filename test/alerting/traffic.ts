/**
 * Request logs in ingest shape, minute by minute, with known failures: the tests derive every
 * expected figure from the records they post, never from the code under test.
 */
export const MIN = 60_000;
export const DAY = 24 * 60 * MIN;

export interface Log {
  request_id: string;
  timestamp: number;
  method: string;
  endpoint: string;
  status_code: number;
  institution: string;
  customer_id: string;
  source: string;
  link_id: string;
  error?: { code: string; message: string };
  error_origin?: string;
}

const failures = {
  500: { code: 'unexpected_error', message: 'An unexpected error occurred on our side', origin: 'internal' },
  502: { code: 'institution_down', message: 'The institution is unavailable', origin: 'institution' },
  408: { code: 'institution_timeout', message: 'The institution did not answer in time', origin: 'institution' },
} as const;

/**
 * `perMinute` requests in each minute of [fromMs, toMs) for an institution, the first
 * `failing(minuteStart)` of them failing with `status`. Request ids encode institution and time.
 */
export function minuteTraffic(o: {
  institution: string;
  fromMs: number;
  toMs: number;
  perMinute: number;
  failing: (minuteStart: number) => number;
  status?: keyof typeof failures;
  customer_id?: string;
}): Log[] {
  const logs: Log[] = [];
  const status = o.status ?? 500;
  for (let m = o.fromMs; m < o.toMs; m += MIN) {
    const bad = o.failing(m);
    for (let i = 0; i < o.perMinute; i++) {
      const fails = i < bad;
      const f = failures[status];
      logs.push({
        request_id: `${o.institution}-${m / MIN}-${i}`,
        timestamp: m + Math.floor((i * MIN) / o.perMinute),
        method: 'POST',
        endpoint: '/api/transactions/',
        status_code: fails ? status : 200,
        institution: o.institution,
        customer_id: o.customer_id ?? 'acme_lending',
        source: 'api',
        link_id: `link-${o.institution}-${i % 7}`,
        ...(fails ? { error: { code: f.code, message: f.message }, error_origin: f.origin } : {}),
      });
    }
  }
  return logs;
}

/** The same stretch of time on each of days 0..days before. */
export function onEachDay(days: number, fromMs: number, toMs: number, make: (fromMs: number, toMs: number, day: number) => Log[]): Log[] {
  return Array.from({ length: days + 1 }, (_, d) => make(fromMs - d * DAY, toMs - d * DAY, d)).flat();
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length % 2 === 0) throw new Error('use an odd number of baseline days in tests');
  return s[(s.length - 1) / 2]!;
};
