/**
 * The bytes a transport benchmark moves, and how both ends agree on them.
 *
 * The stream is `size` bytes cycling through one pre-filled random buffer (at most 64 MiB, so 1 GiB
 * runs do not spend seconds generating randomness). Over UDP it travels as bulk messages of 1 MiB,
 * each framed with its index since the bulk channel is unordered; over TCP as plain 64 KiB writes of
 * the source.
 *
 * Its digest is SHA-256 over the XXH64 of every 1 MiB block, in stream order. The receiver hashes each
 * block as it arrives (≈0.1 ns/B), so it needs neither to keep the data nor to copy it into place:
 * retaining or copying 1 GiB in the receiving process costs more than the transfer itself here
 * (page faults, GC of external memory), and SHA-256 over the bytes (≈0.6 ns/B) would be measured as
 * transport time. XXH64 is not collision-resistant against an adversary, but nothing here is one: it
 * catches every corrupted, missing, duplicated or misplaced block with probability 1 − 2⁻⁶⁴.
 */
import { createHash, randomBytes } from "node:crypto";
import xxhash from "xxhash-wasm";

const { h64Raw, create64 } = await xxhash();

export const MiB = 1024 * 1024;
export const BLOCK_BYTES = MiB;
export const TCP_WRITE_BYTES = 64 * 1024;
/** A multiple of both the block and the TCP write size, so neither ever straddles its end. */
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

function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_BYTES);
}

function blockLength(size: number, index: number): number {
  return Math.min(BLOCK_BYTES, size - index * BLOCK_BYTES);
}

/** The per-block hashes of a stream and the digest they combine into. */
class BlockDigests {
  private readonly hashes: BigUint64Array;
  private readonly known: Uint8Array;
  private missing: number;

  constructor(count: number) {
    this.hashes = new BigUint64Array(count);
    this.known = new Uint8Array(count);
    this.missing = count;
  }

  get complete(): boolean {
    return this.missing === 0;
  }

  has(index: number): boolean {
    return this.known[index] === 1;
  }

  set(index: number, hash: bigint): void {
    this.hashes[index] = hash;
    this.known[index] = 1;
    this.missing--;
  }

  digest(): string {
    const bytes = Buffer.alloc(this.hashes.length * 8);
    for (let i = 0; i < this.hashes.length; i++) bytes.writeBigUInt64BE(this.hashes[i]!, i * 8);
    return createHash("sha256").update(bytes).digest("hex");
  }
}

export class SourceStream {
  private readonly source: Buffer;

  constructor(readonly size: number) {
    this.source = randomBytes(Math.min(size, SOURCE_BYTES));
  }

  /** The stream's bytes [offset, offset + length); the range must not straddle the source's end. */
  slice(offset: number, length: number): Buffer {
    const start = offset % this.source.length;
    return this.source.subarray(start, start + length);
  }

  get messageCount(): number {
    return blockCount(this.size);
  }

  /**
   * Bulk message `index` (its index, then its block), written into a buffer from `alloc`: the sender
   * passes the transport's `allocBulk`, as the sync layer does, since a fresh 1 MiB buffer costs
   * 1–10 ms in page faults on this VM.
   */
  message(index: number, alloc: (length: number) => Uint8Array): Uint8Array {
    const block = this.slice(index * BLOCK_BYTES, blockLength(this.size, index));
    const msg = alloc(FRAME_HEADER + block.length);
    new DataView(msg.buffer, msg.byteOffset, FRAME_HEADER).setUint32(0, index);
    msg.set(block, FRAME_HEADER);
    return msg;
  }

  digest(): string {
    const digests = new BlockDigests(blockCount(this.size));
    for (let i = 0; i < blockCount(this.size); i++) {
      digests.set(i, h64Raw(this.slice(i * BLOCK_BYTES, blockLength(this.size, i))));
    }
    return digests.digest();
  }
}

/** Receives bulk messages in any order, and counts the ones that should not have come. */
export class MessageCollector {
  private readonly digests: BlockDigests;
  duplicates = 0;
  malformed = 0;

  constructor(readonly size: number) {
    this.digests = new BlockDigests(blockCount(size));
  }

  get complete(): boolean {
    return this.digests.complete;
  }

  add(msg: Uint8Array): void {
    if (msg.length < FRAME_HEADER) {
      this.malformed++;
      return;
    }
    const index = new DataView(msg.buffer, msg.byteOffset, FRAME_HEADER).getUint32(0);
    if (index >= blockCount(this.size) || msg.length !== FRAME_HEADER + blockLength(this.size, index)) {
      this.malformed++;
      return;
    }
    if (this.digests.has(index)) {
      this.duplicates++;
      return;
    }
    this.digests.set(index, h64Raw(msg.subarray(FRAME_HEADER)));
  }

  digest(): string {
    return this.digests.digest();
  }
}

/** Receives a byte stream in arbitrary chunks, hashing it block by block. */
export class StreamCollector {
  private readonly digests: BlockDigests;
  private hasher = create64();
  private inBlock = 0;
  bytes = 0;

  constructor(readonly size: number) {
    this.digests = new BlockDigests(blockCount(size));
  }

  /** False once more bytes arrived than the stream has. */
  add(chunk: Uint8Array): boolean {
    if (this.bytes + chunk.length > this.size) return false;
    for (let at = 0; at < chunk.length; ) {
      const index = Math.floor(this.bytes / BLOCK_BYTES);
      const take = Math.min(chunk.length - at, blockLength(this.size, index) - this.inBlock);
      this.hasher.update(chunk.subarray(at, at + take));
      at += take;
      this.bytes += take;
      this.inBlock += take;
      if (this.inBlock === blockLength(this.size, index)) {
        this.digests.set(index, this.hasher.digest());
        this.hasher = create64();
        this.inBlock = 0;
      }
    }
    return true;
  }

  get complete(): boolean {
    return this.digests.complete;
  }

  digest(): string {
    return this.digests.digest();
  }
}
