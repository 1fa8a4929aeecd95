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
 * harder mask before avg, an easier one after) to turn candidates into blocks.
 */

import { GEAR } from "./gear.js";
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

function record(out: Candidates, end: number, h: number, strong: number): void {
  out.ends.push(end);
  out.strong.push((h & strong) === 0);
}

/**
 * Rolls the hash over buf[from, to) and appends candidate ends to `out`; buf[0] is at file offset `base`.
 * Returns the hash state to continue with the next buffer.
 *
 * Unrolled by four with a single combined test: hits are rare (one per 2^(bits-2) bytes), and one
 * well-predicted branch per four bytes measured 10–25% faster than a branch per byte.
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
  const gear = GEAR;
  const weak = masks.weak;
  const strong = masks.strong;
  const at = base + 1;
  let h = hash;
  let i = from;
  for (const end4 = from + ((to - from) & ~3); i < end4; i += 4) {
    const h1 = ((h << 1) + gear[buf[i]]) | 0;
    const h2 = ((h1 << 1) + gear[buf[i + 1]]) | 0;
    const h3 = ((h2 << 1) + gear[buf[i + 2]]) | 0;
    h = ((h3 << 1) + gear[buf[i + 3]]) | 0;
    if ((h1 & weak && h2 & weak && h3 & weak && h & weak) === 0) {
      if ((h1 & weak) === 0) record(out, at + i, h1, strong);
      if ((h2 & weak) === 0) record(out, at + i + 1, h2, strong);
      if ((h3 & weak) === 0) record(out, at + i + 2, h3, strong);
      if ((h & weak) === 0) record(out, at + i + 3, h, strong);
    }
  }
  for (; i < to; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & weak) === 0) record(out, at + i, h, strong);
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
  private start = 0;
  /** Every candidate with end <= known has been added. */
  private known = 0;

  constructor(
    private readonly params: ChunkParams,
    private readonly size: number,
  ) {
    validateChunkParams(params);
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

/** Blocks of a buffer holding a whole file: the reference the parallel pipeline must reproduce. */
export function chunkBuffer(buf: Uint8Array, params: ChunkParams): BlockRange[] {
  const candidates: Candidates = { ends: [], strong: [] };
  scanCandidates(buf, 0, buf.length, 0, cutMasks(params), 0, candidates);
  return new CutPlanner(params, buf.length).add(candidates, buf.length);
}
