import { randomUUID } from 'node:crypto';
import { kindNames, type RecordKind } from '../schema/records.js';
import { RingBuffer } from './ring-buffer.js';
import { defaultRetry, postBatch, type IngestTarget, type InputOf, type RetryPolicy } from './ingest-client.js';

export interface ShipperOptions extends IngestTarget {
  /** Records held per kind while waiting to be shipped; a full buffer drops the oldest (default 10,000). */
  maxBuffered?: number;
  /** Records per POST (default 500). */
  batchSize?: number;
  /** How often buffered records are shipped (default 1000 ms). */
  flushIntervalMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Ship what is buffered when the process is about to exit on its own (default true). */
  flushOnExit?: boolean;
  /** Told about batches given up on and dropped records; never required. */
  onError?: (message: string) => void;
}

export interface ShipperStats {
  buffered: number;
  /** Records ingest accepted. */
  shipped: number;
  /** Records ingest refused as invalid (207/400). */
  rejected: number;
  /** Records thrown away because the buffer was full. */
  dropped: number;
  /** Records lost because ingest stayed unreachable through every retry. */
  failed: number;
}

interface Lane {
  buffer: RingBuffer<unknown>;
  sending: Promise<void> | null;
}

/**
 * Buffers records in memory and ships them to the ingest API in batches, one batch in flight per
 * kind. Memory is bounded (maxBuffered per kind plus one batch in flight); `record` never throws
 * and never waits, so the host's request path only pays for a push into an array.
 */
export class Shipper {
  private readonly lanes: Record<RecordKind, Lane>;
  private readonly batchSize: number;
  private readonly retry: RetryPolicy;
  private readonly timer: NodeJS.Timeout;
  private readonly counts = { shipped: 0, rejected: 0, dropped: 0, failed: 0 };
  private closing = false;
  private readonly onBeforeExit = () => {
    if (this.buffered() > 0) void this.flush();
  };

  constructor(private readonly options: ShipperOptions) {
    const capacity = options.maxBuffered ?? 10_000;
    this.lanes = Object.fromEntries(kindNames.map((k) => [k, { buffer: new RingBuffer(capacity), sending: null }])) as Record<RecordKind, Lane>;
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 500, 10_000));
    this.retry = { ...defaultRetry, ...options.retry };
    // unref: a shipper must never keep the host process alive by itself.
    this.timer = setInterval(() => this.pumpAll(), options.flushIntervalMs ?? 1000).unref();
    if (options.flushOnExit !== false) process.on('beforeExit', this.onBeforeExit);
  }

  /** Queues one record for shipping. Never throws. */
  record<K extends RecordKind>(kind: K, record: InputOf[K]): void {
    try {
      const lane = this.lanes[kind];
      if (lane.buffer.push(record)) {
        this.counts.dropped++;
        if (this.counts.dropped === 1 || this.counts.dropped % 1000 === 0) {
          this.report(`buffer full: ${this.counts.dropped} records dropped so far (oldest first)`);
        }
      }
      // A full batch goes out soon, outside the caller's stack.
      if (lane.buffer.size >= this.batchSize && !lane.sending) setImmediate(() => this.pump(kind));
    } catch {
      /* never into the host */
    }
  }

  stats(): ShipperStats {
    return { buffered: this.buffered(), ...this.counts };
  }

  /** Ships everything buffered now (retrying as configured); resolves when done or given up. */
  async flush(): Promise<void> {
    await Promise.all(kindNames.map((k) => this.drain(k)));
  }

  /** Stops the timer and ships what is left, waiting at most timeoutMs (default 10 s). */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    process.off('beforeExit', this.onBeforeExit);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
    });
    await Promise.race([this.flush(), deadline]);
    clearTimeout(timer);
  }

  private buffered(): number {
    return kindNames.reduce((n, k) => n + this.lanes[k].buffer.size, 0);
  }

  private pumpAll() {
    for (const k of kindNames) this.pump(k);
  }

  /** Starts shipping a kind's buffer unless a batch of it is already in flight. */
  private pump(kind: RecordKind): Promise<void> {
    const lane = this.lanes[kind];
    if (lane.sending) return lane.sending;
    if (lane.buffer.size === 0) return Promise.resolve();
    lane.sending = (async () => {
      try {
        while (lane.buffer.size > 0) await this.ship(kind, lane.buffer.take(this.batchSize));
      } catch (err) {
        this.report(`shipping ${kind} failed: ${(err as Error).message}`);
      } finally {
        lane.sending = null;
      }
    })();
    return lane.sending;
  }

  private async drain(kind: RecordKind) {
    // A pump in flight may have started before the newest records arrived: pump until empty.
    while (this.lanes[kind].sending || this.lanes[kind].buffer.size > 0) await this.pump(kind);
  }

  private async ship(kind: RecordKind, batch: unknown[]) {
    // One key per batch, reused by its retries: a retry after a lost 202 is not ingested twice.
    const outcome = await postBatch(this.options, kind, batch as never[], randomUUID(), this.retry);
    if (outcome.ok) {
      this.counts.shipped += outcome.accepted;
      this.counts.rejected += outcome.rejected;
      if (outcome.rejected) this.report(`ingest rejected ${outcome.rejected} ${kind} records as invalid`);
    } else if (outcome.status !== null && outcome.status < 500 && outcome.status !== 408 && outcome.status !== 429) {
      this.counts.rejected += batch.length;
      this.report(`ingest refused a batch of ${batch.length} ${kind} (${outcome.status}): ${outcome.error}`);
    } else {
      this.counts.failed += batch.length;
      this.report(`gave up on a batch of ${batch.length} ${kind} after ${outcome.tries} tries: ${outcome.error}`);
    }
  }

  private report(message: string) {
    try {
      this.options.onError?.(message);
    } catch {
      /* a throwing logger must not break shipping */
    }
  }
}
