/**
 * Batch `n` of a fault test's request logs: `count` records with ids `<prefix><n>-<i>`, a second
 * apart per batch from `t0`, a 503 in every nine, spread over two endpoints and eleven links.
 */
export function logBatch(prefix: string, n: number, count: number, t0: number) {
  return Array.from({ length: count }, (_, i) => ({
    request_id: `${prefix}${n}-${i}`,
    timestamp: t0 + n * 1000 + i,
    method: 'GET',
    endpoint: ['/api/accounts/', '/api/transactions/'][i % 2],
    status_code: i % 9 === 0 ? 503 : 200,
    duration_ms: i,
    link_id: `link-${i % 11}`,
    institution: 'bank_a',
    customer_id: 'cust',
  }));
}
