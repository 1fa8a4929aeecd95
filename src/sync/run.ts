/**
 * Runs: consecutive blocks of one file version asked for with one REQUEST and answered with one
 * RESPONSE. Per-request costs (an index lookup, a read and a write syscall, a message each way, a
 * promise) are paid once per run instead of once per block, which was most of the receive path's CPU
 * with 128 KiB blocks; verification stays per block, so a bad run says which blocks to fetch again.
 */
import { xxh64Hex } from "../pipeline/hash.js";
import type { RunBlock } from "./protocol.js";

/**
 * Runs are cut at this many bytes: 1 MiB reads and writes cost a fraction of the per-call overhead of
 * 64–128 KiB ones (MEASUREMENTS.md, files), and a file still splits into enough runs to keep every peer
 * busy and to resume at a fine grain.
 */
export const RUN_BYTES = 1 << 20;

export function runBytes(blocks: readonly RunBlock[]): number {
  let total = 0;
  for (const b of blocks) total += b.size;
  return total;
}

/**
 * Indices of the blocks whose bytes in `data` (the run back to back) do not match their hash: all of
 * them when `data` does not have the run's length.
 */
export function badBlocks(data: Uint8Array, blocks: readonly RunBlock[]): number[] {
  if (data.byteLength !== runBytes(blocks)) return blocks.map((_, i) => i);
  const bad: number[] = [];
  let at = 0;
  for (const [i, b] of blocks.entries()) {
    if (xxh64Hex(data.subarray(at, at + b.size)) !== b.hash) bad.push(i);
    at += b.size;
  }
  return bad;
}

/** Where some local file holds a block's bytes. */
export interface LocalSource {
  /** Absolute path. */
  abs: string;
  offset: number;
}

/** Blocks `first` to `first + count - 1` of a file, `bytes` long. */
export interface PlannedRun {
  first: number;
  count: number;
  bytes: number;
  /** Where the run's bytes are locally (the blocks follow each other there too), or null: remote. */
  source: LocalSource | null;
}

/**
 * The blocks not yet `done`, in file order, as runs of up to `maxBytes` (a bigger block alone):
 * consecutive remote blocks (`locate` finds no local copy) together, and consecutive local blocks
 * together when their copies also follow each other in one local file (the old version of a file,
 * shifted by an insertion or not). Lazy, so that `locate` is asked only as runs are taken.
 */
export function* planRuns<B extends RunBlock>(
  blocks: readonly B[],
  done: ReadonlySet<number>,
  locate: (b: B, index: number) => LocalSource | undefined,
  maxBytes = RUN_BYTES,
): Generator<PlannedRun> {
  let open: PlannedRun | null = null;
  for (let i = 0; i < blocks.length; i++) {
    if (done.has(i)) continue;
    const b = blocks[i]!;
    const source = locate(b, i) ?? null;
    if (
      open !== null &&
      !(open.first + open.count === i && open.bytes + b.size <= maxBytes && follows(open, source))
    ) {
      yield open;
      open = null;
    }
    if (open === null) open = { first: i, count: 0, bytes: 0, source };
    open.count++;
    open.bytes += b.size;
  }
  if (open !== null) yield open;
}

/** A block found at `next` (null: remote) continues `run` where it is. */
function follows(run: PlannedRun, next: LocalSource | null): boolean {
  if (run.source === null || next === null) return run.source === next;
  return run.source.abs === next.abs && run.source.offset + run.bytes === next.offset;
}
