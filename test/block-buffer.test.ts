import { describe, expect, it } from 'vitest';
import { BlockBuffer } from '../workers/block-buffer.js';
import { joinBlocks, type Block } from '../workers/clickhouse-writer.js';

const block = (rows: string[], columns = ['a', 'batch_id']): Block => ({ columns, text: Buffer.from(rows.join(',')), count: rows.length });
const jobs = (n: number, seed: number) =>
  Array.from({ length: n }, (_, j) => block(Array.from({ length: 1 + ((j * 7 + seed) % 13) }, (_, r) => JSON.stringify([`job ${j} row ${r} ${'x'.repeat((seed * r) % 50)}`, `b${j}`]))));

describe("a table's reused join memory (workers/block-buffer.ts)", () => {
  it('joins to the bytes, columns and count of joinBlocks, whatever the flush before it was', () => {
    const memory = new BlockBuffer();
    for (const [n, seed] of [[8, 1], [40, 2], [3, 3], [40, 4], [1, 5], [0, 6], [25, 7]] as const) {
      const blocks = [...jobs(n, seed), block([])];
      const joined = memory.join(blocks);
      const expected = joinBlocks(blocks);
      expect(joined.text.toString()).toBe(expected.text.toString());
      expect(joined.count).toBe(expected.count);
      expect(joined.columns).toEqual(expected.columns);
      // what the engine parses: every row, in order
      if (n > 0) expect(JSON.parse(`[${joined.text.toString()}]`)).toHaveLength(expected.count);
    }
  });

  it('reuses its memory for a flush no larger than before, and grows for a larger one', () => {
    const memory = new BlockBuffer();
    const big = memory.join(jobs(40, 1));
    const smaller = memory.join(jobs(20, 2));
    expect(smaller.text.buffer).toBe(big.text.buffer);
    const larger = memory.join(jobs(400, 3));
    expect(larger.text.buffer).not.toBe(big.text.buffer);
    expect(memory.join(jobs(40, 4)).text.buffer).toBe(larger.text.buffer);
  });
});
