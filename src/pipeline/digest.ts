/**
 * The whole-file digest every file version is identified and verified by: a one-level SHA-256 tree over
 * 8 MiB segments.
 *
 *   size ≤ 8 MiB:  SHA-256(content)                       (what `sha256sum` prints)
 *   size > 8 MiB:  SHA-256("LEFT tree digest v1\0" ‖ size as u64 BE ‖ SHA-256(segment 0) ‖ SHA-256(segment 1) ‖ …)
 *
 * Why a tree: one SHA-256 stream is sequential (≈1.7 GB/s, one core), and it bounded both the sender's
 * indexing and the receiver's final check of every big file. Segment hashes are independent, so both
 * cores share them, in any order, as soon as a segment's bytes are there. The size in the outer hash and
 * the label keep a big file's digest from ever equalling a small file's plain SHA-256.
 * The segment size is part of the protocol: peers must agree on it (docs/PROTOCOL.md).
 */
import { createHash } from "node:crypto";

export const DIGEST_SEGMENT_BYTES = 8 << 20;
export const SEGMENT_HASH_BYTES = 32;
const TREE_LABEL = Buffer.from("LEFT tree digest v1\0", "latin1");

/** Segments of a file of `size` bytes (an empty file has one, empty). */
export function segmentCount(size: number): number {
  return Math.max(1, Math.ceil(size / DIGEST_SEGMENT_BYTES));
}

/** Byte range [start, end) of segment `k` of a file of `size` bytes. */
export function segmentRange(size: number, k: number): { start: number; end: number } {
  const start = k * DIGEST_SEGMENT_BYTES;
  return { start, end: Math.min(size, start + DIGEST_SEGMENT_BYTES) };
}

/** The digest (hex) of a file of `size` bytes from its segment hashes, in order (in parts of any length). */
export function combineSegments(size: number, parts: readonly Uint8Array[]): string {
  const hashes = Buffer.concat(parts);
  if (hashes.length !== segmentCount(size) * SEGMENT_HASH_BYTES) {
    throw new RangeError(`${hashes.length} bytes of segment hashes for a file of ${size} bytes`);
  }
  if (size <= DIGEST_SEGMENT_BYTES) return hashes.toString("hex");
  const sizeField = Buffer.alloc(8);
  sizeField.writeBigUInt64BE(BigInt(size));
  return createHash("sha256").update(TREE_LABEL).update(sizeField).update(hashes).digest("hex");
}

/** The digest (hex) of bytes held in memory. */
export function contentDigest(data: Uint8Array): string {
  const parts: Uint8Array[] = [];
  for (let k = 0; k < segmentCount(data.length); k++) {
    const { start, end } = segmentRange(data.length, k);
    parts.push(createHash("sha256").update(data.subarray(start, end)).digest());
  }
  return combineSegments(data.length, parts);
}
