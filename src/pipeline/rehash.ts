/**
 * Re-hashing a big file that changed, from the block list of its previous version: the blocks whose
 * bytes are still there (at the same offset, or moved by the change in size) are checked with one xxh64
 * pass and kept, and the content-defined chunker runs only from where they stop matching until its cuts
 * meet theirs again. The result is exactly what hashing from scratch gives (the property test holds
 * them equal), for a fraction of the CPU: an edit of a 1 GiB file costs a read and an xxh64 pass instead
 * of the gear scan of every byte (docs/CHUNKING.md, "Re-hashing a changed file").
 *
 * Why a kept block is the block the chunker would cut: where a block ends is decided by its own bytes
 * only (from `min` − 31 bytes after its start, with min ≥ 64), unless the end of the file is within
 * `max` bytes of its start. So a block that starts where the chunker's previous cut is, far enough from
 * the end of both versions, and holds the same bytes as before, ends where it ended before.
 */
import type { BlockInfo } from "../index/types.js";
import { type BlockRange, type Candidates, CutPlanner } from "./chunker.js";
import type { ChunkParams } from "./types.js";

/** What the previous version of the file looked like, from the index. */
export interface PreviousVersion {
  size: number;
  blocks: readonly BlockInfo[];
}

/** The pool's tasks, on the file being hashed. */
export interface RehashTasks {
  /** Candidate cut points with ends in (start, end]. */
  candidates(start: number, end: number): Promise<Candidates>;
  /** xxh64 (hex) of each range. */
  hashes(ranges: readonly BlockRange[]): Promise<string[]>;
  /** Candidate scans of one region queued at once. */
  lookahead: number;
  /** Bytes per candidate scan. */
  scanBytes: number;
  /** Bytes of blocks per xxh64 task. */
  batchBytes: number;
}

/** Old blocks checked at a guessed position before the full pass, to order (or skip) the passes. */
const SAMPLES = 16;

/**
 * Whether the previous block list can be reused under `params`: cut with them (as far as its sizes
 * tell), covering exactly its size. A list cut with other parameters would still describe the file
 * correctly, but the chunker would not reproduce it.
 */
export function reusable(prev: PreviousVersion, params: ChunkParams): boolean {
  let offset = 0;
  for (const [i, b] of prev.blocks.entries()) {
    if (b.offset !== offset) return false;
    const last = i === prev.blocks.length - 1;
    if (b.size > params.max || (!last && b.size < params.min)) return false;
    offset += b.size;
  }
  return prev.blocks.length > 1 && offset === prev.size;
}

/** A block of the new version: kept (hash known) or cut afresh (hash to compute). */
type NewBlock = BlockRange & { hash?: string };

/**
 * The old blocks that may be found at shift `d` in a new version of `size` bytes: those whose end was
 * decided without the end of the file in view, in the old version and at the new place.
 */
function keepable(size: number, prev: PreviousVersion, params: ChunkParams, d: number): BlockInfo[] {
  return prev.blocks.filter((b) => b.offset + params.max <= prev.size && b.offset + d + params.max <= size);
}

/**
 * Where the previous version's blocks are worth looking for in the new one, of `size` bytes: shifts to
 * add to their offsets, most promising first. An edit in place keeps blocks at shift 0; an insertion or
 * deletion keeps those before it at 0 and those after it at the change in size. A few blocks are
 * sampled, so that a file rewritten throughout costs their hashes, not a pass: empty means hash it from
 * scratch.
 */
export async function planShifts(
  size: number,
  prev: PreviousVersion,
  params: ChunkParams,
  tasks: RehashTasks,
): Promise<number[]> {
  const shifts = size === prev.size ? [0] : [0, size - prev.size];
  const scored = await Promise.all(
    shifts.map(async (d) => {
      const all = keepable(size, prev, params, d);
      const step = Math.max(1, Math.floor(all.length / SAMPLES));
      const sample = all.filter((_, i) => i % step === 0).slice(0, SAMPLES);
      const hashes = await tasks.hashes(sample.map((b) => ({ offset: b.offset + d, size: b.size })));
      return { d, hits: sample.filter((b, i) => hashes[i] === b.hash).length };
    }),
  );
  return scored
    .filter((s) => s.hits > 0)
    .sort((a, b) => b.hits - a.hits)
    .map((s) => s.d);
}

/** The blocks of the new version, of `size` bytes, looking for the old ones at `shifts` (planShifts). */
export async function rehash(
  size: number,
  prev: PreviousVersion,
  params: ChunkParams,
  shifts: readonly number[],
  tasks: RehashTasks,
): Promise<BlockInfo[]> {
  /** New offset → the old block found there. */
  const kept = new Map<number, BlockInfo>();
  const found = new Set<BlockInfo>();
  for (const d of shifts) {
    const todo = keepable(size, prev, params, d).filter((b) => !found.has(b) && !kept.has(b.offset + d));
    const hashes = await hashAll(
      todo.map((b) => ({ offset: b.offset + d, size: b.size })),
      tasks,
    );
    for (const [i, b] of todo.entries()) {
      if (hashes[i] !== b.hash) continue;
      kept.set(b.offset + d, b);
      found.add(b);
    }
  }
  const blocks = await walk(size, params, kept, tasks);
  const freshHashes = await hashAll(
    blocks.filter((b) => b.hash === undefined),
    tasks,
  );
  let next = 0;
  return blocks.map((b) => ({ offset: b.offset, size: b.size, hash: b.hash ?? freshHashes[next++]! }));
}

/** xxh64 of every range, in tasks of about batchBytes, run side by side. */
async function hashAll(ranges: readonly BlockRange[], tasks: RehashTasks): Promise<string[]> {
  const batches: BlockRange[][] = [];
  let bytes = Number.POSITIVE_INFINITY;
  for (const r of ranges) {
    if (bytes >= tasks.batchBytes) {
      batches.push([]);
      bytes = 0;
    }
    batches.at(-1)?.push(r);
    bytes += r.size;
  }
  return (await Promise.all(batches.map((b) => tasks.hashes(b)))).flat();
}

/** The new version's blocks in order: kept ones where the cuts meet them, the chunker's elsewhere. */
async function walk(
  size: number,
  params: ChunkParams,
  kept: ReadonlyMap<number, BlockInfo>,
  tasks: RehashTasks,
): Promise<NewBlock[]> {
  const out: NewBlock[] = [];
  let at = 0;
  while (at < size) {
    const old = kept.get(at);
    if (old !== undefined) {
      out.push({ offset: at, size: old.size, hash: old.hash });
      at += old.size;
    } else {
      at = await chunkUntilKept(at, size, params, kept, tasks, out);
    }
  }
  return out;
}

/**
 * Cuts blocks from `start` (a cut) with the chunker until one ends where a kept block begins, or the
 * file ends; appends them to `out` and returns where they stop. Scans ahead in a growing window, since
 * a region may be a few KiB (an edit) or the rest of the file.
 */
async function chunkUntilKept(
  start: number,
  size: number,
  params: ChunkParams,
  kept: ReadonlyMap<number, BlockInfo>,
  tasks: RehashTasks,
  out: NewBlock[],
): Promise<number> {
  const planner = new CutPlanner(params, size, start);
  const scans: { end: number; result: Promise<Candidates> }[] = [];
  let next = start;
  let ahead = 1;
  const dispatch = () => {
    while (next < size && scans.length < ahead) {
      const from = next;
      next = Math.min(size, from + tasks.scanBytes);
      const result = tasks.candidates(from, next);
      result.catch(() => undefined);
      scans.push({ end: next, result });
    }
  };
  dispatch();
  for (let scan = scans.shift(); scan !== undefined; scan = scans.shift()) {
    const found = await scan.result;
    for (const block of planner.add(found, scan.end)) {
      out.push(block);
      const end = block.offset + block.size;
      if (end >= size || kept.has(end)) return end;
    }
    ahead = Math.min(tasks.lookahead, ahead * 2);
    dispatch();
  }
  return size;
}
