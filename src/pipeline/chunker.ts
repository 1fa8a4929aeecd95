/**
 * FastCDC-style content-defined chunking (see docs/CHUNKING.md).
 *
 * The rolling hash is the gear hash h = (h << 1) + GEAR[byte] on 32 bits. A byte's contribution is shifted
 * out after 32 steps, so h at position i depends only on bytes i-31..i: never on where the current chunk
 * started nor on how the file was split into read buffers. That is what lets segments of one file be
 * scanned on several threads (each starting 31 bytes early to warm up) and then joined by a cheap
 * sequential pass, with results identical to a single sequential scan.
 *
 * Scanning only records candidate chunk ends; CutPlanner applies min/avg/max (normalized chunking: a
 * harder mask before avg, an easier one after) to turn candidates into blocks. chunkBuffer, which sees a
 * whole file, applies the same rules block by block and so can skip the bytes that cannot end a block.
 */

import { GEAR, gearKernelInstance, SCAN_WINDOW } from "./gear.js";
import type { ChunkParams } from "./types.js";

/** Bytes of history the gear hash depends on besides the current byte. */
export const GEAR_WARMUP = 31;

export interface CutMasks {
  /** Used for chunk lengths in [min, avg): more bits, so cuts there are rarer. */
  strong: number;
  /** Used for chunk lengths in [avg, max): fewer bits. Every strong hit is also a weak hit. */
  weak: number;
}

/** Candidate chunk ends (exclusive offsets) in ascending order; strong[i] tells whether ends[i] is a strong hit. */
export interface Candidates {
  ends: number[];
  strong: boolean[];
}

export interface BlockRange {
  offset: number;
  size: number;
}

/** Normalization level: the strong mask has 2 bits more than log2(avg), the weak one 2 bits fewer. */
const NORMALIZATION = 2;

export function validateChunkParams(p: ChunkParams): void {
  const ok =
    Number.isSafeInteger(p.min) && Number.isSafeInteger(p.avg) && Number.isSafeInteger(p.max) && p.min >= 1;
  if (!ok || p.min > p.avg || p.avg > p.max || p.avg > 2 ** 28) {
    throw new RangeError(`invalid chunk parameters min=${p.min} avg=${p.avg} max=${p.max}`);
  }
}

function topBits(n: number): number {
  return (~0 << (32 - n)) | 0;
}

/**
 * Masks on the high bits of h: bit k of h depends on the last k+1 bytes, so the top bits carry the whole
 * 32-byte window while the low bits would see only the last few bytes.
 */
export function cutMasks(p: ChunkParams): CutMasks {
  validateChunkParams(p);
  const bits = Math.round(Math.log2(p.avg));
  return {
    strong: topBits(Math.min(32, bits + NORMALIZATION)),
    weak: topBits(Math.max(1, bits - NORMALIZATION)),
  };
}

/** Rolls the hash over buf[from, to) without recording candidates (warm-up before a segment). */
export function rollHash(buf: Uint8Array, from: number, to: number, hash: number): number {
  const gear = GEAR;
  let h = hash;
  for (let i = from; i < to; i++) h = ((h << 1) + gear[buf[i]]) | 0;
  return h;
}

/**
 * Rolls the hash over buf[from, to) and appends candidate ends to `out`; buf[0] is at file offset `base`.
 * Returns the hash state to continue with the next buffer.
 *
 * The loop runs in WebAssembly (gear.ts) over windows copied into its memory; hits are rare (one per
 * 2^(bits-2) bytes), so turning them into candidates here costs nothing measurable.
 */
export function scanCandidates(
  buf: Uint8Array,
  from: number,
  to: number,
  hash: number,
  masks: CutMasks,
  base: number,
  out: Candidates,
): number {
  const kernel = gearKernelInstance();
  const { weak, strong } = masks;
  let h = hash;
  for (let start = from; start < to; start += SCAN_WINDOW) {
    const length = Math.min(SCAN_WINDOW, to - start);
    kernel.input.set(buf.subarray(start, start + length));
    const hits = kernel.scan(length, h, weak);
    for (let k = 0; k < hits; k++) {
      out.ends.push(base + start + kernel.hitIndex(k) + 1);
      out.strong.push((kernel.hitHash(k) & strong) === 0);
    }
    h = kernel.hash;
  }
  return h;
}

/**
 * Turns candidates into blocks. Candidates arrive in file order for contiguous ranges; blocks are released
 * as soon as no later candidate can change them, so hashing can start before the whole file is scanned.
 */
export class CutPlanner {
  private readonly ends: number[] = [];
  private readonly strong: boolean[] = [];
  private head = 0;
  private start: number;
  /** Every candidate with end <= known has been added. */
  private known: number;

  /** `start`: where the first block begins, a cut of the file (0, or the end of a known block). */
  constructor(
    private readonly params: ChunkParams,
    private readonly size: number,
    start = 0,
  ) {
    validateChunkParams(params);
    this.start = start;
    this.known = start;
  }

  /** Adds the candidates with ends in (previous upTo, upTo]; returns the blocks that became final. */
  add(c: Candidates, upTo: number): BlockRange[] {
    for (let i = 0; i < c.ends.length; i++) {
      this.ends.push(c.ends[i]);
      this.strong.push(c.strong[i]);
    }
    this.known = Math.min(upTo, this.size);
    const out: BlockRange[] = [];
    for (let end = this.nextCut(); end !== undefined; end = this.nextCut()) {
      out.push({ offset: this.start, size: end - this.start });
      this.start = end;
    }
    this.compact();
    return out;
  }

  /** True once every byte belongs to a released block. */
  get done(): boolean {
    return this.start >= this.size;
  }

  private nextCut(): number | undefined {
    const s = this.start;
    const n = this.size;
    if (s >= n) return undefined;
    const { min, avg, max } = this.params;
    if (n - s <= min) return n;
    const ends = this.ends;
    while (this.head < ends.length && ends[this.head] < s + min) this.head++;
    let i = this.head;
    for (; i < ends.length && ends[i] < s + avg; i++) {
      if (this.strong[i]) return this.take(i);
    }
    if (this.known < Math.min(s + avg - 1, n)) return undefined;
    if (i < ends.length && ends[i] < s + max) return this.take(i);
    if (this.known < Math.min(s + max - 1, n)) return undefined;
    return Math.min(s + max, n);
  }

  private take(i: number): number {
    this.head = i + 1;
    return this.ends[i];
  }

  private compact(): void {
    if (this.head < 1024) return;
    this.ends.splice(0, this.head);
    this.strong.splice(0, this.head);
    this.head = 0;
  }
}

/**
 * Where the block starting at `s` ends (the rules of docs/CHUNKING.md), scanning only the bytes that can
 * end it: from s + min - 1 (an end e is decided by the hash after byte e - 1), in pieces of at most a
 * quarter of avg (the mean distance between weak candidates) so that the scan stops soon after the first
 * candidate that applies.
 */
function blockEnd(buf: Uint8Array, s: number, p: ChunkParams, masks: CutMasks): number {
  const n = buf.length;
  if (n - s <= p.min) return n;
  const last = Math.min(s + p.max - 1, n);
  const piece = Math.max(1, Math.min(SCAN_WINDOW, p.avg >> 2));
  const c: Candidates = { ends: [], strong: [] };
  let h = rollHash(buf, Math.max(0, s + p.min - 1 - GEAR_WARMUP), s + p.min - 1, 0);
  let i = 0;
  for (let from = s + p.min - 1; from < last; from += piece) {
    h = scanCandidates(buf, from, Math.min(last, from + piece), h, masks, 0, c);
    // Ends come in order: an end past avg is reached only once every end before it has been seen.
    for (; i < c.ends.length; i++) {
      if (c.strong[i] || c.ends[i] >= s + p.avg) return c.ends[i];
    }
  }
  return Math.min(s + p.max, n);
}

/**
 * Blocks of a buffer holding a whole file, the same as CutPlanner gives for it (the parallel pipeline is
 * tested against this). Knowing where each block starts, it skips the bytes that cannot end it: a fifth
 * of a block on average, all of a file up to `min` bytes.
 */
export function chunkBuffer(buf: Uint8Array, params: ChunkParams): BlockRange[] {
  const masks = cutMasks(params);
  const blocks: BlockRange[] = [];
  for (let s = 0; s < buf.length; ) {
    const end = blockEnd(buf, s, params, masks);
    blocks.push({ offset: s, size: end - s });
    s = end;
  }
  return blocks;
}
