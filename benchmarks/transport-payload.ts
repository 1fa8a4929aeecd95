/**
 * The bytes a transport benchmark moves, and how both ends agree on them.
 *
 * The stream is `size` bytes cycling through one pre-filled random buffer (at most 64 MiB, so 1 GiB
 * runs do not spend a second generating randomness). Over UDP it travels as bulk messages of 1 MiB,
 * each framed with its index since the bulk channel is unordered; over TCP as plain 64 KiB writes.
 * The sender hashes the stream before the clock starts; the receiver keeps what it receives and hashes
 * it, in stream order, after the clock stops: hashing costs ≈0.6 s per GiB on one core and would
 * otherwise be measured as transport time.
 */
import { createHash, randomBytes } from "node:crypto";

export const MiB = 1024 * 1024;
export const MESSAGE_BYTES = MiB;
export const TCP_WRITE_BYTES = 64 * 1024;
const SOURCE_BYTES = 64 * MiB;
const FRAME_HEADER = 4;

const units: Record<string, number> = { "": 1, K: 1024, M: MiB, G: 1024 * MiB };

/** "1G", "512M", "64m", "4096", "1.5G" → bytes (binary units). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
  if (match === null) throw new Error(`size must look like 1G, 512M, 64M or a byte count, got "${text}"`);
  const bytes = Math.round(Number(match[1]) * units[match[2]!.toUpperCase()]!);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new Error(`size out of range: "${text}"`);
  return bytes;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export class SourceStream {
  private readonly source: Buffer;

  constructor(readonly size: number) {
    this.source = randomBytes(Math.min(size, SOURCE_BYTES));
  }

  /** The stream's bytes [offset, offset + length), which must not straddle the source buffer's end. */
  slice(offset: number, length: number): Buffer {
    const start = offset % this.source.length;
    return this.source.subarray(start, start + length);
  }

  get messageCount(): number {
    return Math.ceil(this.size / MESSAGE_BYTES);
  }

  /** Bulk message `index`: its index, then its share of the stream (a fresh buffer the transport may keep). */
  message(index: number): Buffer {
    const offset = index * MESSAGE_BYTES;
    const payload = this.slice(offset, Math.min(MESSAGE_BYTES, this.size - offset));
    const msg = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
    msg.writeUInt32BE(index, 0);
    payload.copy(msg, FRAME_HEADER);
    return msg;
  }

  digest(): string {
    const hash = createHash("sha256");
    for (let offset = 0; offset < this.size; offset += this.source.length) {
      hash.update(this.slice(offset, Math.min(this.source.length, this.size - offset)));
    }
    return hash.digest("hex");
  }
}

/** Collects bulk messages in any order, once each, and hashes their payloads in index order. */
export class MessageCollector {
  private readonly payloads: (Uint8Array | undefined)[];
  private missing: number;
  duplicates = 0;
  malformed = 0;

  constructor(readonly size: number) {
    this.payloads = new Array(Math.ceil(size / MESSAGE_BYTES));
    this.missing = this.payloads.length;
  }

  get complete(): boolean {
    return this.missing === 0;
  }

  add(msg: Uint8Array): void {
    if (msg.length < FRAME_HEADER) {
      this.malformed++;
      return;
    }
    const index = new DataView(msg.buffer, msg.byteOffset, FRAME_HEADER).getUint32(0);
    const expected = Math.min(MESSAGE_BYTES, this.size - index * MESSAGE_BYTES);
    if (index >= this.payloads.length || msg.length !== FRAME_HEADER + expected) {
      this.malformed++;
      return;
    }
    if (this.payloads[index] !== undefined) {
      this.duplicates++;
      return;
    }
    this.payloads[index] = msg.subarray(FRAME_HEADER);
    this.missing--;
  }

  digest(): string {
    const hash = createHash("sha256");
    for (const payload of this.payloads) if (payload !== undefined) hash.update(payload);
    return hash.digest("hex");
  }
}

/** Keeps a TCP byte stream's chunks (no copies) and hashes them at the end. */
export class ChunkCollector {
  private readonly chunks: Buffer[] = [];
  bytes = 0;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  digest(): string {
    const hash = createHash("sha256");
    for (const chunk of this.chunks) hash.update(chunk);
    return hash.digest("hex");
  }
}
