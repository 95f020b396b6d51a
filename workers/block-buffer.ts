import type { Block } from './clickhouse-writer.js';

const COMMA = 0x2c;
/** A join larger than this gets memory of its own instead of keeping that much for the next flush. */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

/**
 * One table's flushes joined into the same memory, flush after flush. A flush's block is tens of
 * MB; a fresh buffer for each means fresh pages, and each page's first touch is a page fault,
 * which costs more than the copy itself on a virtualised host (docs/performance.md, section 33).
 * The block returned shares this memory: it is valid until the next join, so the caller joins
 * again only after the insert that reads it has finished (one flush at a time per table).
 */
export class BlockBuffer {
  private memory: Buffer = Buffer.alloc(0);

  /** The blocks' rows as one block (same bytes as joinBlocks: texts in order, separated by ','). */
  join(blocks: Block[]): Block {
    const parts = blocks.filter((b) => b.count > 0);
    if (parts.length === 1) return parts[0]!; // nothing to join
    const columns = parts[0]?.columns ?? blocks[0]?.columns ?? [];
    let bytes = Math.max(0, parts.length - 1);
    let count = 0;
    for (const b of parts) {
      bytes += b.text.length;
      count += b.count;
    }
    let target = this.memory;
    if (bytes > target.length) {
      // grow with headroom, so a table's flush size settles on one allocation
      target = Buffer.allocUnsafe(Math.max(bytes, Math.min(MAX_KEPT_BYTES, Math.ceil(bytes * 1.25))));
      if (target.length <= MAX_KEPT_BYTES) this.memory = target;
    }
    let at = 0;
    parts.forEach((b, i) => {
      if (i > 0) target[at++] = COMMA;
      at += b.text.copy(target, at);
    });
    return { columns, text: target.subarray(0, at), count };
  }
}
