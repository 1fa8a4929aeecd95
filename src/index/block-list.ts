/**
 * The binary form of a block list in index.db: per block its size as a little-endian u32 and its hash as
 * 8 raw bytes, 12 bytes a block. Offsets are not stored: a block list tiles its file from offset 0, so
 * each block starts where the previous one ended.
 *
 * Both directions run on the main thread for every big entry stored or read, so they avoid per-block
 * native calls and string concatenation: hex digits go through lookup tables, one string per hash.
 */
import type { BlockInfo } from "./types.js";

export const BLOCK_ENTRY_BYTES = 12;
const HASH_CHARS = 16;

const DIGITS = "0123456789abcdef";
/** Value of an ASCII hex digit; INVALID_NIBBLE for any other ASCII character. */
const INVALID_NIBBLE = 0x100;
const NIBBLE = new Uint16Array(128).fill(INVALID_NIBBLE);
/** Char codes of the high and low hex digit of a byte. */
const HIGH_DIGIT = new Uint16Array(256);
const LOW_DIGIT = new Uint16Array(256);
for (let i = 0; i < 16; i++) NIBBLE[DIGITS.charCodeAt(i)] = i;
for (let i = 0; i < 256; i++) {
  HIGH_DIGIT[i] = DIGITS.charCodeAt(i >> 4);
  LOW_DIGIT[i] = DIGITS.charCodeAt(i & 15);
}

/**
 * Throws RangeError for a list the format cannot represent exactly (a gap or overlap between blocks, a
 * size outside u32, a hash that is not 16 lowercase hex digits): storing it would read back different.
 */
export function encodeBlockList(blocks: readonly BlockInfo[]): Buffer {
  const out = Buffer.allocUnsafe(blocks.length * BLOCK_ENTRY_BYTES);
  let offset = 0;
  let p = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.offset !== offset) throw new RangeError(`block ${i} starts at ${b.offset}, not at ${offset}`);
    if (b.size >>> 0 !== b.size) throw new RangeError(`block ${i} has size ${b.size}`);
    out.writeUInt32LE(b.size, p);
    if (!writeHash(b.hash, out, p + 4)) throw new RangeError(`block ${i} has hash ${JSON.stringify(b.hash)}`);
    offset += b.size;
    p += BLOCK_ENTRY_BYTES;
  }
  return out;
}

/** False (with `out` partly written) if `hash` is not 16 lowercase hex digits. */
function writeHash(hash: string, out: Buffer, at: number): boolean {
  if (hash.length !== HASH_CHARS) return false;
  // An invalid ASCII digit makes `byte` exceed 0xff; a non-ASCII char code is at least 0x80.
  let bad = 0;
  for (let j = 0; j < HASH_CHARS; j += 2) {
    const hi = hash.charCodeAt(j);
    const lo = hash.charCodeAt(j + 1);
    const byte = (NIBBLE[hi & 0x7f] << 4) | NIBBLE[lo & 0x7f];
    bad |= (byte >> 8) | ((hi | lo) >> 7);
    out[at + (j >> 1)] = byte & 0xff;
  }
  return bad === 0;
}

/** The list `encodeBlockList` was given; null if `blob` is not a whole number of entries. */
export function decodeBlockList(blob: Uint8Array): BlockInfo[] | null {
  if (blob.length % BLOCK_ENTRY_BYTES !== 0) return null;
  const count = blob.length / BLOCK_ENTRY_BYTES;
  const blocks: BlockInfo[] = new Array(count);
  let offset = 0;
  for (let i = 0, p = 0; i < count; i++, p += BLOCK_ENTRY_BYTES) {
    const size = (blob[p] | (blob[p + 1] << 8) | (blob[p + 2] << 16) | (blob[p + 3] << 24)) >>> 0;
    blocks[i] = { offset, size, hash: readHash(blob, p + 4) };
    offset += size;
  }
  return blocks;
}

function readHash(b: Uint8Array, at: number): string {
  return String.fromCharCode(
    HIGH_DIGIT[b[at]],
    LOW_DIGIT[b[at]],
    HIGH_DIGIT[b[at + 1]],
    LOW_DIGIT[b[at + 1]],
    HIGH_DIGIT[b[at + 2]],
    LOW_DIGIT[b[at + 2]],
    HIGH_DIGIT[b[at + 3]],
    LOW_DIGIT[b[at + 3]],
    HIGH_DIGIT[b[at + 4]],
    LOW_DIGIT[b[at + 4]],
    HIGH_DIGIT[b[at + 5]],
    LOW_DIGIT[b[at + 5]],
    HIGH_DIGIT[b[at + 6]],
    LOW_DIGIT[b[at + 6]],
    HIGH_DIGIT[b[at + 7]],
    LOW_DIGIT[b[at + 7]],
  );
}
