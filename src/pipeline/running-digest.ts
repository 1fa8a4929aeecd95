/**
 * The whole-file digest of a file being assembled, computed while it is written. The receiver reports
 * how much of the file is final from its start (its gap-free written prefix); each digest segment the
 * prefix covers is hashed at once by the pool, from the page cache the writes just filled, on whichever
 * core is free. When the last block lands only the segments after the prefix are left, hashed in
 * parallel, instead of the whole file after the transfer (0.6 s per GiB here, on the critical path of
 * every download).
 */
import { combineSegments, DIGEST_SEGMENT_BYTES, segmentCount } from "./digest.js";

/** One file's running digest. */
export interface RunningDigest {
  /** The first `bytes` bytes of the file are written and final; smaller values than before are ignored. */
  advance(bytes: number): void;
  /** The digest (hex) of the first `size` bytes, or null if the file could not be read as promised. */
  finish(size: number): Promise<string | null>;
  /** Not needed any more (the download failed): stops its queued work. */
  abort(): void;
}

/**
 * The hash of segment `index` of the file at `absPath`, which holds at least that segment's bytes as a
 * file of `size` bytes has them; aborting `cancel` (a shared Int32Array set to 1) stops the work.
 */
export type SegmentHasher = (
  absPath: string,
  size: number,
  index: number,
  cancel: Int32Array,
) => Promise<Uint8Array>;

export function followDigest(absPath: string, hashSegment: SegmentHasher): RunningDigest {
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const hashed: Promise<Uint8Array | null>[] = [];
  let ended = false;
  const hashUpTo = (size: number, segments: number) => {
    for (let k = hashed.length; k < segments; k++) {
      hashed.push(hashSegment(absPath, size, k, cancel).catch(() => null));
    }
  };
  return {
    advance: (bytes) => {
      if (!ended) hashUpTo(bytes, Math.floor(bytes / DIGEST_SEGMENT_BYTES));
    },
    finish: async (size) => {
      if (ended) return null;
      ended = true;
      const count = segmentCount(size);
      // Segments already hashed as full ones that a file of `size` does not have: sizes disagree.
      if (hashed.length > count) return null;
      hashUpTo(size, count);
      const parts = await Promise.all(hashed);
      return parts.every((p) => p !== null) ? combineSegments(size, parts) : null;
    },
    abort: () => {
      ended = true;
      Atomics.store(cancel, 0, 1);
    },
  };
}
