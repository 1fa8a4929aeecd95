/**
 * Big-endian byte reader and writer for the sync messages. The reader checks every length against the
 * bytes actually present before touching them and fails with DecodeError, so a hostile message can
 * neither read out of bounds nor make us allocate more than it carries.
 */

export class DecodeError extends Error {
  override name = "DecodeError";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const TWO_32 = 2 ** 32;
/** High word limit that keeps a u64 within Number.MAX_SAFE_INTEGER. */
const MAX_SAFE_HIGH = 2 ** 21;

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining)
      throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.remaining}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** An unsigned 64-bit integer that must fit a JS number exactly. */
  u64(what: string): number {
    this.need(8, what);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    if (hi >= MAX_SAFE_HIGH) throw new DecodeError(`${what} exceeds 2^53`);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** `n` bytes as a view into the message (no copy). */
  bytesView(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  hex(n: number, what: string): string {
    return Buffer.from(this.bytesView(n, what)).toString("hex");
  }

  /** UTF-8 string with a u16 byte length, at most `max` bytes. */
  str16(max: number, what: string): string {
    const len = this.u16(what);
    if (len > max) throw new DecodeError(`${what} is ${len} bytes, limit ${max}`);
    try {
      return utf8.decode(this.bytesView(len, what));
    } catch {
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }

  /** Everything not yet read, as a view. */
  rest(): Uint8Array {
    return this.bytesView(this.remaining, "rest");
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`);
  }
}

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  get length(): number {
    return this.pos;
  }

  u8(v: number): this {
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 out of range: ${v}`);
    this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / TWO_32), this.pos);
    this.buf.writeUInt32BE(v % TWO_32, this.pos + 4);
    this.pos += 8;
    return this;
  }

  f64(v: number): this {
    this.room(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }

  /** Exactly `n` bytes given as lowercase hex; anything else is a bug in the caller, not peer input. */
  hex(s: string, n: number): this {
    this.room(n);
    // Buffer.write stops at the first non-hex character, so a short count exposes malformed input.
    if (s.length !== n * 2 || this.buf.write(s, this.pos, n, "hex") !== n) {
      throw new RangeError(`expected ${n} hex bytes: ${s}`);
    }
    this.pos += n;
    return this;
  }

  str16(s: string): this {
    const len = Buffer.byteLength(s, "utf8");
    if (len > 0xffff) throw new RangeError("string longer than 65535 bytes");
    this.u16(len);
    this.room(len);
    this.buf.write(s, this.pos, len, "utf8");
    this.pos += len;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
