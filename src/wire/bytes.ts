/**
 * Big-endian integer and QUIC-style variable-length integer (RFC 9000 §16) primitives.
 *
 * Reading uses a sticky error: the first failed read records a `DecodeError` and every later read
 * returns 0, so a decoder reads a whole structure and checks `reader.error` once before it allocates or
 * returns, instead of testing after every field. Writing is for locally built values, so a value out
 * of range is a programming error and throws.
 */
import { DecodeError, type DecodeErrorKind } from "./errors.js";

const TWO_32 = 0x1_0000_0000;
/** Largest integer a decoder accepts for 64-bit fields: values must survive the trip through a JS number. */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Largest value a varint can carry (62 bits), reduced to what a JS number represents exactly. */
export const MAX_VARINT = MAX_SAFE;

export class ByteReader {
  pos: number;
  error: DecodeError | null = null;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Records the first error only: later failures are consequences of the first. */
  fail(kind: DecodeErrorKind, message: string): void {
    if (this.error === null) this.error = new DecodeError(kind, message);
    this.pos = this.end;
  }

  private take(n: number, what: string): boolean {
    if (this.error !== null) return false;
    if (this.end - this.pos < n) {
      this.fail("truncated", `${what}: need ${n} bytes, have ${this.end - this.pos}`);
      return false;
    }
    return true;
  }

  u8(what: string): number {
    if (!this.take(1, what)) return 0;
    return this.bytes[this.pos++]!;
  }

  u16(what: string): number {
    if (!this.take(2, what)) return 0;
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(what: string): number {
    if (!this.take(4, what)) return 0;
    const v = readU32(this.bytes, this.pos);
    this.pos += 4;
    return v;
  }

  /** 64-bit field; values above 2^53 - 1 are rejected as "bad-value". */
  u64(what: string): number {
    if (!this.take(8, what)) return 0;
    const hi = readU32(this.bytes, this.pos);
    const lo = readU32(this.bytes, this.pos + 4);
    this.pos += 8;
    if (hi > 0x1f_ffff) {
      this.fail("bad-value", `${what}: exceeds 2^53 - 1`);
      return 0;
    }
    return hi * TWO_32 + lo;
  }

  varint(what: string): number {
    if (!this.take(1, what)) return 0;
    const b = this.bytes;
    const first = b[this.pos]!;
    const len = 1 << (first >> 6);
    if (!this.take(len, what)) return 0;
    const p = this.pos;
    this.pos = p + len;
    switch (len) {
      case 1:
        return first & 0x3f;
      case 2:
        return ((first & 0x3f) << 8) | b[p + 1]!;
      case 4:
        return (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      default: {
        const hi = (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
        if (hi > 0x1f_ffff) {
          this.fail("bad-value", `${what}: exceeds 2^53 - 1`);
          return 0;
        }
        return hi * TWO_32 + readU32(b, p + 4);
      }
    }
  }

  /** A view into the input (no copy): callers bound `n` before calling. */
  view(n: number, what: string): Uint8Array {
    if (!this.take(n, what)) return EMPTY;
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A copy, for small fields that outlive the datagram (ids, nonces, proofs). */
  copy(n: number, what: string): Uint8Array {
    return this.view(n, what).slice();
  }
}

export const EMPTY = new Uint8Array(0);

export function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

export function writeU8(b: Uint8Array, p: number, v: number): number {
  b[p] = v;
  return p + 1;
}

export function writeU16(b: Uint8Array, p: number, v: number): number {
  b[p] = v >>> 8;
  b[p + 1] = v;
  return p + 2;
}

export function writeU32(b: Uint8Array, p: number, v: number): number {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
  return p + 4;
}

export function writeU64(b: Uint8Array, p: number, v: number): number {
  checkSafe(v);
  writeU32(b, p, Math.floor(v / TWO_32));
  return writeU32(b, p + 4, v >>> 0);
}

export function varintSize(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x4000_0000) return 4;
  return 8;
}

export function writeVarint(b: Uint8Array, p: number, v: number): number {
  checkSafe(v);
  if (v < 0x40) {
    b[p] = v;
    return p + 1;
  }
  if (v < 0x4000) {
    b[p] = 0x40 | (v >>> 8);
    b[p + 1] = v;
    return p + 2;
  }
  if (v < 0x4000_0000) {
    writeU32(b, p, v);
    b[p] = b[p]! | 0x80;
    return p + 4;
  }
  writeU64(b, p, v);
  b[p] = b[p]! | 0xc0;
  return p + 8;
}

function checkSafe(v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a non-negative safe integer: ${v}`);
}
