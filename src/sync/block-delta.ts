/**
 * Block lists announced as changes against the receiver's own version of the file (PROTOCOL.md, INDEX).
 *
 * An edit of a big file changes a few of its blocks, yet a full block list costs 12 bytes per block
 * (≈98 KB for 1 GiB at 128 KiB blocks), and each version crosses the wire twice: announced by its author,
 * then echoed back by every peer that pulled it. The sender therefore describes the list as ops against
 * the entry the receiver announced for that path (stored in the sender's index): COPY a range of that
 * list, or LITERAL blocks. The receiver resolves them against its own local entry, which must still be
 * the one it announced: same sequence and same digest. The sequence is what makes this exact: the same
 * bytes can be recorded again with another block list (rechunked), and any such change gets a new
 * local sequence.
 */
import type { BlockInfo, FileInfo } from "../index/types.js";

/** Entries with fewer blocks are always announced in full: a delta would save little. */
export const MIN_DELTA_BLOCKS = 16;

/** A block given in full: its size and xxh64 (offsets follow from the sizes). */
export type DeltaBlock = Pick<BlockInfo, "size" | "hash">;

/** Blocks start … start + count − 1 of the base list, or blocks listed in full. */
export type BlockOp = { op: "copy"; start: number; count: number } | { op: "literal"; blocks: DeltaBlock[] };

export interface BlockDelta {
  /** The receiver's local sequence of the base entry, as it announced it. */
  baseSequence: number;
  /** The base entry's whole-file digest. */
  baseDigest: string;
  /** Canonical: no empty op, no two literals in a row, no copy continuing the previous copy's range. */
  ops: BlockOp[];
}

/** A live file whose block list is announced as a delta; `blocks` is known only once resolved. */
export interface DeltaEntry extends Omit<FileInfo, "blocks"> {
  blocks: null;
  delta: BlockDelta;
}

/** An entry as an INDEX message carries it: a FileInfo, or a file with a delta for a block list. */
export type AnnouncedEntry = FileInfo | DeltaEntry;

function sameBlock(a: DeltaBlock, b: DeltaBlock): boolean {
  return a.hash === b.hash && a.size === b.size;
}

/** Blocks an op stands for. */
export function opLength(op: BlockOp): number {
  return op.op === "copy" ? op.count : op.blocks.length;
}

/** Blocks of the list the entry announces (after resolution, for a delta). */
export function announcedBlocks(e: AnnouncedEntry): number {
  if (e.blocks !== null) return e.blocks.length;
  let n = 0;
  for (const op of e.delta.ops) n += opLength(op);
  return n;
}

/**
 * Canonical ops that turn `base` into `target`, in linear time. A target block is copied from the base
 * position aligned with it (right after the previous copy, past the literals since: a replaced range)
 * or from the first base position holding that block (a moved or inserted range), whichever agrees
 * longer; else it joins a literal. A copy runs as far as the two lists agree, so a copy never continues
 * the previous one and literals never follow each other.
 */
export function diffBlocks(base: readonly DeltaBlock[], target: readonly DeltaBlock[]): BlockOp[] {
  // Keyed by hash alone, reusing the lists' strings: a 2^20-block list must not double its memory.
  const first = new Map<string, number>();
  for (let i = base.length - 1; i >= 0; i--) first.set(base[i]!.hash, i);
  /** Blocks from target[i] on that equal base from `start` on. */
  const agree = (i: number, start: number | undefined): number => {
    if (start === undefined) return 0;
    let n = 0;
    while (i + n < target.length && start + n < base.length && sameBlock(base[start + n]!, target[i + n]!))
      n++;
    return n;
  };
  const ops: BlockOp[] = [];
  let literal: DeltaBlock[] | null = null;
  let aligned = 0;
  let i = 0;
  while (i < target.length) {
    const t = target[i]!;
    const atFirst = first.get(t.hash);
    const alignedRun = agree(i, aligned);
    const firstRun = atFirst === aligned ? 0 : agree(i, atFirst);
    if (alignedRun === 0 && firstRun === 0) {
      if (literal === null) {
        literal = [];
        ops.push({ op: "literal", blocks: literal });
      }
      literal.push({ size: t.size, hash: t.hash });
      aligned++;
      i++;
      continue;
    }
    const [start, count] = alignedRun >= firstRun ? [aligned, alignedRun] : [atFirst!, firstRun];
    ops.push({ op: "copy", start, count });
    literal = null;
    aligned = start + count;
    i += count;
  }
  return ops;
}

/** The list `ops` describe against `base`, or null when a copy reaches beyond it. */
export function resolveBlocks(base: readonly DeltaBlock[], ops: readonly BlockOp[]): BlockInfo[] | null {
  const out: BlockInfo[] = [];
  let offset = 0;
  const add = (b: DeltaBlock) => {
    out.push({ offset, size: b.size, hash: b.hash });
    offset += b.size;
  };
  for (const op of ops) {
    if (op.op === "literal") {
      for (const b of op.blocks) add(b);
    } else {
      if (op.start + op.count > base.length) return null;
      for (let j = op.start; j < op.start + op.count; j++) add(base[j]!);
    }
  }
  return out;
}

/** `f` with its block list as a delta against `base`, the entry the receiver announced for f's path. */
export function deltaAgainst(f: FileInfo, base: FileInfo): DeltaEntry {
  return {
    ...f,
    blocks: null,
    delta: { baseSequence: base.sequence, baseDigest: base.digest, ops: diffBlocks(base.blocks, f.blocks) },
  };
}

/**
 * The announced entry with its block list, resolved against `local` (this host's entry for the path):
 * null when `local` is no longer the base the sender named, or the ops do not fit it.
 */
export function resolveEntry(e: DeltaEntry, local: FileInfo | undefined): FileInfo | null {
  const { delta, ...rest } = e;
  if (
    local === undefined ||
    local.deleted ||
    local.type !== "file" ||
    local.sequence !== delta.baseSequence ||
    local.digest !== delta.baseDigest
  ) {
    return null;
  }
  const blocks = resolveBlocks(local.blocks, delta.ops);
  return blocks === null ? null : { ...rest, blocks };
}
