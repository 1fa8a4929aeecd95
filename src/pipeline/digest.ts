/**
 * The whole-file digest every file version is identified and verified by: a one-level BLAKE3 tree over
 * 8 MiB segments.
 *
 *   size ≤ 8 MiB:  BLAKE3(content)                        (what `b3sum` prints)
 *   size > 8 MiB:  BLAKE3("LEFT tree digest v2\0" ‖ size as u64 BE ‖ BLAKE3(segment 0) ‖ BLAKE3(segment 1) ‖ …)
 *
 * Why BLAKE3: it is a cryptographic hash like the SHA-256 of v1, and 4.5× cheaper (7.5 GB/s a core here
 * with AVX-512, SHA-256 1.7 with SHA-NI). Both ends hash every byte of every file version, the author to
 * index it and the receiver to check the assembled file, so SHA-256 was a third of the CPU of a 1 GiB
 * sync on two cores (docs/BENCHMARKS.md, session 5).
 * Why a tree: one hash stream is sequential, and it bounded both the sender's indexing and the
 * receiver's final check of every big file. Segment hashes are independent, so both cores share them, in
 * any order, as soon as a segment's bytes are there. The size in the outer hash and the label keep a big
 * file's digest from ever equalling a small file's plain BLAKE3.
 * The segment size and the hash are part of the protocol: peers must agree on them (docs/PROTOCOL.md).
 */
import { Blake3Hasher, blake3 } from "@napi-rs/blake-hash";

export const DIGEST_SEGMENT_BYTES = 8 << 20;
export const SEGMENT_HASH_BYTES = 32;
const TREE_LABEL = Buffer.from("LEFT tree digest v2\0", "latin1");

/** An incremental hash of one segment (or of a whole small file): the hash the digest is built from. */
export interface SegmentHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

export function newSegmentHash(): SegmentHash {
  const hasher = new Blake3Hasher();
  return {
    update: (data) => {
      hasher.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },
    digest: () => hasher.digestBuffer(),
  };
}

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
  return blake3(Buffer.concat([TREE_LABEL, sizeField, hashes])).toString("hex");
}

/** The digest (hex) of bytes held in memory. */
export function contentDigest(data: Uint8Array): string {
  const parts: Uint8Array[] = [];
  for (let k = 0; k < segmentCount(data.length); k++) {
    const { start, end } = segmentRange(data.length, k);
    const hash = newSegmentHash();
    hash.update(data.subarray(start, end));
    parts.push(hash.digest());
  }
  return combineSegments(data.length, parts);
}
