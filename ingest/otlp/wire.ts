/**
 * Protocol Buffers wire format, read by hand for the OTLP export requests (the only binary this
 * receiver reads; protobufjs stays for the responses it writes). Follows the encoding spec
 * (protobuf.dev/programming-guides/encoding): a tag is a varint `field << 3 | wire type`; wire
 * types 0 VARINT, 1 I64, 2 LEN, 3/4 group start/end (deprecated, skipped), 5 I32.
 *
 * As the reference implementations do (C++ and Go protobuf): a field this receiver does not read,
 * or one sent with a wire type its declaration does not have, is skipped as unknown; a truncated or
 * malformed message is an error.
 */
export class WireError extends Error {}

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

/** A 64-bit integer as its two 32-bit halves, as protobufjs (long.js) gives it: normalize.ts reads either. */
export interface Int64 {
  low: number;
  high: number;
  unsigned: boolean;
}

export class WireReader {
  pos: number;

  /** where the message being read ends (enter/leave move it for an embedded message) */
  end: number;

  constructor(readonly buf: Buffer) {
    this.pos = 0;
    this.end = buf.length;
  }

  /** A varint's low 32 bits (as uint32: `| 0` makes int32), the rest read and dropped. */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 32; shift += 7) {
      if (pos >= this.end) throw this.truncated();
      const b = buf[pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    // bits 32 and up (a negative int32 is sign-extended to 10 bytes)
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw this.truncated();
      if (buf[pos++]! < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new WireError(`a varint longer than 10 bytes at byte ${pos}`);
  }

  /** A varint as a 64-bit integer (int64: two's complement). */
  int64(): Int64 {
    const buf = this.buf;
    let pos = this.pos;
    let low = 0;
    let high = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw this.truncated();
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (i < 4) low |= bits << (7 * i);
      else if (i === 4) {
        low |= bits << 28; // the low 4 bits land in low...
        high |= bits >>> 4; // ...the other 3 in high
      } else high |= bits << (7 * i - 32);
      if (b < 0x80) {
        this.pos = pos;
        return { low: low | 0, high: high | 0, unsigned: false };
      }
    }
    throw new WireError(`a varint longer than 10 bytes at byte ${pos}`);
  }

  bool(): boolean {
    const v = this.int64();
    return (v.low | v.high) !== 0;
  }

  fixed64(): Int64 {
    const pos = this.need(8);
    return { low: this.buf.readInt32LE(pos), high: this.buf.readInt32LE(pos + 4), unsigned: true };
  }

  double(): number {
    return this.buf.readDoubleLE(this.need(8));
  }

  /** A LEN field's length: a varint under 2^31, as the reference parsers require (uint32() would wrap past 2^32). */
  private size(): number {
    const from = this.pos;
    const n = this.uint32();
    const used = this.pos - from; // a 5th byte carries bits 28-34: only 28-30 may be set
    if (used > 5 || (used === 5 && this.buf[from + 4]! > 0x07)) throw new WireError(`a length over 2^31 bytes at byte ${from}`);
    return n;
  }

  /** A LEN field's bounds: [start, end) within buf. */
  len(): number {
    const n = this.size();
    const start = this.pos;
    if (n > this.end - start) throw this.truncated();
    this.pos = start + n;
    return start;
  }

  /** A LEN field as a Buffer over the same memory. */
  bytes(): Buffer {
    const start = this.len();
    return this.buf.subarray(start, this.pos);
  }

  /** A LEN field as text (invalid UTF-8 becomes U+FFFD, as protobufjs and Buffer decode it). */
  string(): string {
    const start = this.len();
    return this.buf.toString('utf8', start, this.pos);
  }

  /**
   * Starts reading an embedded message (a LEN field): `end` becomes its end, so nothing inside it
   * reads past it. Returns the enclosing message's end, for leave().
   */
  enter(): number {
    const n = this.size();
    if (n > this.end - this.pos) throw this.truncated();
    const outer = this.end;
    this.end = this.pos + n;
    return outer;
  }

  /** Ends an embedded message read to its end. */
  leave(outer: number): void {
    this.end = outer;
  }

  /** Skips a field's value; `wireType` is the tag's. */
  skip(wireType: number, field: number): void {
    switch (wireType) {
      case VARINT:
        this.uint32();
        return;
      case I64:
        this.need(8);
        return;
      case LEN:
        this.len();
        return;
      case I32:
        this.need(4);
        return;
      case SGROUP:
        for (;;) {
          const tag = this.uint32();
          if ((tag & 7) === EGROUP) {
            if (tag >>> 3 !== field) throw new WireError(`group ${field} ended by the end of group ${tag >>> 3}`);
            return;
          }
          this.skip(tag & 7, tag >>> 3);
        }
      default:
        throw new WireError(`wire type ${wireType} of field ${field} at byte ${this.pos} is not valid here`);
    }
  }

  /** The next tag, checked (field 0 is never valid). */
  tag(): number {
    const tag = this.uint32();
    if (tag >>> 3 === 0) throw new WireError(`field number 0 at byte ${this.pos}`);
    return tag;
  }

  private need(n: number): number {
    const pos = this.pos;
    if (n > this.end - pos) throw this.truncated();
    this.pos = pos + n;
    return pos;
  }

  private truncated(): WireError {
    return new WireError(`the message ends inside a field (byte ${this.pos} of ${this.end})`);
  }
}
