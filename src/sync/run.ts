/**
 * Runs: consecutive blocks of one file version asked for with one REQUEST and answered with one
 * RESPONSE. Per-request costs (an index lookup, a read and a write syscall, a message each way, a
 * promise) are paid once per run instead of once per block, which is most of the receive path's CPU
 * with 128 KiB blocks; verification stays per block, so a bad run says which blocks to fetch again.
 */
import { xxh64Hex } from "../pipeline/hash.js";
import type { RunBlock } from "./protocol.js";

/**
 * Runs are cut at this many bytes: 1 MiB reads and writes cost a fraction of the per-call overhead of
 * 128 KiB ones (MEASUREMENTS.md, files), and a file still splits into enough runs to keep every peer
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

/** Blocks `first` to `first + count - 1` of a file, `bytes` long; `remote` when no local file has them. */
export interface PlannedRun {
  first: number;
  count: number;
  bytes: number;
  remote: boolean;
}

/**
 * The blocks not yet `done`, in file order, as runs: a block that some local file has (`isLocal`) is a
 * run of its own, to be copied rather than fetched; consecutive remote blocks are grouped up to
 * `maxBytes` (a bigger block alone). Lazy, so that `isLocal` is asked only as runs are taken.
 */
export function* planRuns<B extends RunBlock>(
  blocks: readonly B[],
  done: ReadonlySet<number>,
  isLocal: (b: B) => boolean,
  maxBytes = RUN_BYTES,
): Generator<PlannedRun> {
  let open: PlannedRun | null = null;
  for (let i = 0; i < blocks.length; i++) {
    if (done.has(i)) continue;
    const b = blocks[i]!;
    const remote = !isLocal(b);
    const joins = open !== null && remote && open.first + open.count === i && open.bytes + b.size <= maxBytes;
    if (open !== null && !joins) {
      yield open;
      open = null;
    }
    if (!remote) {
      yield { first: i, count: 1, bytes: b.size, remote };
      continue;
    }
    if (open === null) open = { first: i, count: 0, bytes: 0, remote };
    open.count++;
    open.bytes += b.size;
  }
  if (open !== null) yield open;
}
