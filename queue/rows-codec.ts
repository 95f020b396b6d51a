import { compressFrameSync, decompressFrameSync } from 'lz4-napi';

/**
 * How ingest compresses a job's rows before Redis stores them (BatchJobV4.encoding). Redis writes
 * every stored byte to its AOF and fsyncs it before it answers (appendfsync always), so a 202 waits
 * for that fsync, and on this host an fsync's time grew with the bytes it flushed: rows ~2.9x
 * smaller (150 kB -> 52 kB for 500 records) for ~0.3 ms of ingest CPU per batch
 * (docs/performance.md, section 40). The same bytes also cost Redis less memory and copying.
 *
 * An LZ4 frame, the lz4 command line's format, with a content checksum: a stored value damaged
 * in Redis or on its disk is refused, never handed to the engine.
 */
export type RowsEncoding = 'lz4';
export const ROWS_ENCODING: RowsEncoding = 'lz4';

export function compressRows(text: Buffer): Buffer {
  return compressFrameSync(text, { contentChecksum: true });
}

/** The rows' text; throws on a value that is not a whole, intact frame. */
export function decompressRows(encoding: RowsEncoding, stored: Buffer): Buffer {
  if (encoding !== 'lz4') throw new Error(`rows encoding '${String(encoding)}' is not known to this worker`);
  return decompressFrameSync(stored);
}
