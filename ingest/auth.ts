import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer keys from INGEST_API_KEYS. Several may be active (rotation). Compared as SHA-256 digests
 * with timingSafeEqual, so neither length nor content leaks through timing.
 */
export class ApiKeys {
  private readonly digests: Buffer[];
  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }

  /** A stable, non-secret id of the matching key (scopes idempotency keys), or null. */
  identify(authorization: string | undefined): string | null {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (!match) return null;
    const candidate = digest(match[1]!.trim());
    let found: Buffer | null = null;
    for (const d of this.digests) if (timingSafeEqual(d, candidate)) found = d;
    return found ? found.subarray(0, 8).toString('hex') : null;
  }
}
