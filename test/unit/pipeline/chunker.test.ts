import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import {
  type BlockRange,
  type Candidates,
  type CutMasks,
  CutPlanner,
  chunkBuffer,
  cutMasks,
  GEAR_WARMUP,
  rollHash,
  scanCandidates,
} from "../../../src/pipeline/chunker.js";
import { GEAR } from "../../../src/pipeline/gear.js";
import { type ChunkParams, chunkParams } from "../../../src/pipeline/types.js";
import { noise } from "../../helpers/noise.js";

/** Small blocks so that property tests see many cuts in small inputs. */
const small: ChunkParams = chunkParams(256);

function checkCover(blocks: BlockRange[], size: number, p: ChunkParams): void {
  let offset = 0;
  for (const [i, b] of blocks.entries()) {
    assert.equal(b.offset, offset);
    assert.ok(b.size <= p.max, `block ${i} of ${b.size} exceeds max`);
    if (i < blocks.length - 1) assert.ok(b.size >= p.min, `block ${i} of ${b.size} below min`);
    assert.ok(b.size > 0);
    offset += b.size;
  }
  assert.equal(offset, size);
}

/** Chunks `data` as if read in pieces of the given sizes, planning incrementally as pieces arrive. */
function chunkInPieces(data: Uint8Array, p: ChunkParams, cuts: number[]): BlockRange[] {
  const masks = cutMasks(p);
  const planner = new CutPlanner(p, data.length);
  const blocks: BlockRange[] = [];
  let h = 0;
  let from = 0;
  for (const to of [...cuts.filter((c) => c > 0 && c < data.length).sort((a, b) => a - b), data.length]) {
    if (to <= from) continue;
    const piece = data.slice(from, to);
    const c: Candidates = { ends: [], strong: [] };
    h = scanCandidates(piece, 0, piece.length, h, masks, from, c);
    blocks.push(...planner.add(c, to));
    from = to;
  }
  if (data.length === 0) blocks.push(...planner.add({ ends: [], strong: [] }, 0));
  assert.ok(planner.done);
  return blocks;
}

/** Chunks `data` the way parallel workers do: independent segments, each warmed up on the 31 bytes before it. */
function chunkInSegments(data: Uint8Array, p: ChunkParams, segment: number): BlockRange[] {
  const masks = cutMasks(p);
  const planner = new CutPlanner(p, data.length);
  const blocks: BlockRange[] = [];
  for (let start = 0; start < data.length; start += segment) {
    const end = Math.min(data.length, start + segment);
    const from = Math.max(0, start - GEAR_WARMUP);
    const c: Candidates = { ends: [], strong: [] };
    scanCandidates(data, start, end, rollHash(data, from, start, 0), masks, 0, c);
    blocks.push(...planner.add(c, end));
  }
  return blocks;
}

/** docs/CHUNKING.md written for clarity, not speed: the optimized scanner and chunkBuffer must match it. */
function referenceScan(
  data: Uint8Array,
  from: number,
  to: number,
  hash: number,
  masks: CutMasks,
  base: number,
): Candidates & { hash: number } {
  const out = { ends: [] as number[], strong: [] as boolean[], hash };
  for (let i = from; i < to; i++) {
    out.hash = (out.hash * 2 + GEAR[data[i]]) | 0;
    if ((out.hash & masks.weak) === 0) {
      out.ends.push(base + i + 1);
      out.strong.push((out.hash & masks.strong) === 0);
    }
  }
  return out;
}

function referenceChunks(data: Uint8Array, p: ChunkParams): BlockRange[] {
  const n = data.length;
  const c = referenceScan(data, 0, n, 0, cutMasks(p), 0);
  // kind[e]: 0 no candidate ends at e, 1 weak, 2 strong.
  const kind = new Uint8Array(n + 1);
  for (const [i, e] of c.ends.entries()) kind[e] = c.strong[i] ? 2 : 1;
  const blocks: BlockRange[] = [];
  for (let s = 0; s < n; ) {
    let end = Math.min(s + p.max, n);
    if (n - s <= p.min) end = n;
    else {
      let e = s + p.min;
      while (e < s + p.avg && e <= n && kind[e] !== 2) e++;
      if (e < s + p.avg && e <= n) end = e;
      else {
        e = s + p.avg;
        while (e < s + p.max && e <= n && kind[e] === 0) e++;
        if (e < s + p.max && e <= n) end = e;
      }
    }
    blocks.push({ offset: s, size: end - s });
    s = end;
  }
  return blocks;
}

/**
 * Bytes chosen one by one so that (nearly) every position is a candidate for `weak`: the most hits a
 * scan can meet, the worst case for the scanner's hit buffer.
 */
function hitDense(size: number, weak: number): Uint8Array {
  const out = new Uint8Array(size);
  let h = 0;
  for (let i = 0; i < size; i++) {
    let b = 0;
    while (b < 255 && (((h << 1) + GEAR[b]) & weak) !== 0) b++;
    out[i] = b;
    h = ((h << 1) + GEAR[b]) | 0;
  }
  return out;
}

/** Parameter sets from the tiny (every byte a weak candidate half the time) to the default. */
const paramSets: ChunkParams[] = [
  chunkParams(64),
  chunkParams(256),
  chunkParams(4096),
  chunkParams(1 << 16),
  chunkParams(1 << 20),
  { min: 1, avg: 1, max: 1 },
  { min: 1, avg: 2, max: 3 },
  { min: 100, avg: 100, max: 100 },
  { min: 10, avg: 1000, max: 1001 },
  { min: 1, avg: 1 << 12, max: 1 << 20 },
];

/** Random data (also longer than the scanner's 64 KiB window), constant runs, repeating patterns, short buffers. */
const inputs: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .record({ size: fc.integer({ min: 0, max: 200_000 }), seed: fc.integer() })
    .map((r) => noise(r.size, r.seed)),
  fc
    .record({ size: fc.integer({ min: 0, max: 100_000 }), byte: fc.integer({ min: 0, max: 255 }) })
    .map((r) => new Uint8Array(r.size).fill(r.byte)),
  fc
    .record({
      pattern: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      size: fc.integer({ min: 0, max: 100_000 }),
    })
    .map((r) => {
      const out = new Uint8Array(r.size);
      for (let i = 0; i < r.size; i++) out[i] = r.pattern[i % r.pattern.length];
      return out;
    }),
);

test("the gear table is pinned: changing it changes every block boundary", () => {
  assert.equal(GEAR.length, 256);
  const bytes = Buffer.alloc(1024);
  for (const [i, v] of GEAR.entries()) bytes.writeUInt32LE(v >>> 0, i * 4);
  assert.equal(
    createHash("sha256").update(bytes).digest("hex"),
    "bd41d5464a9d98e49dac173c69df2385edb0c51e0bf8a741cf64b80da2f80799",
  );
  assert.deepEqual([GEAR[0] >>> 0, GEAR[1] >>> 0, GEAR[255] >>> 0], [0xf8b8e2c3, 0x9680a235, 0x241d75a0]);
  assert.equal(new Set(GEAR).size, 256, "entries are distinct");
});

test("blocks cover the input exactly and respect min/max", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000 }), fc.integer({ min: 6, max: 10 }), (data, log2) => {
      const p = chunkParams(1 << log2);
      checkCover(chunkBuffer(data, p), data.length, p);
    }),
  );
});

test("low-entropy input (all zeros) is cut at max", () => {
  const p = chunkParams(1024);
  const blocks = chunkBuffer(new Uint8Array(10_000), p);
  checkCover(blocks, 10_000, p);
  assert.ok(blocks.slice(0, -1).every((b) => b.size === p.max));
});

test("cut points do not depend on read-buffer sizes", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 30_000 }),
      fc.integer(),
      fc.array(fc.integer({ min: 0, max: 30_000 }), { maxLength: 12 }),
      (size, seed, cuts) => {
        const data = noise(size, seed);
        assert.deepEqual(chunkInPieces(data, small, cuts), chunkBuffer(data, small));
      },
    ),
  );
});

test("segments scanned independently with a 31-byte warm-up give the sequential result", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 30_000 }),
      fc.integer(),
      fc.integer({ min: 1, max: 5_000 }),
      (size, seed, segment) => {
        const data = noise(size, seed);
        assert.deepEqual(chunkInSegments(data, small, segment), chunkBuffer(data, small));
      },
    ),
  );
});

test("default 1 MiB blocks: sizes on 64 MiB of random data are sensible", () => {
  const p = chunkParams(1 << 20);
  const data = noise(64 << 20, 42);
  const blocks = chunkBuffer(data, p);
  checkCover(blocks, data.length, p);
  const mean = data.length / blocks.length;
  assert.ok(mean > 0.8 * p.avg && mean < 1.5 * p.avg, `mean block size ${mean}`);
});

test("inserting 100 bytes near the start of 64 MiB changes only the first blocks", () => {
  const p = chunkParams(1 << 20);
  const data = noise(64 << 20, 7);
  const edited = new Uint8Array(data.length + 100);
  edited.set(data.subarray(0, 1000));
  edited.set(noise(100, 99), 1000);
  edited.set(data.subarray(1000), 1100);
  const digests = (buf: Uint8Array) =>
    chunkBuffer(buf, p).map((b) =>
      createHash("sha1")
        .update(buf.subarray(b.offset, b.offset + b.size))
        .digest("hex"),
    );
  const before = digests(data);
  const after = digests(edited);
  const common = new Set(before);
  const changed = after.filter((d) => !common.has(d));
  assert.ok(changed.length >= 1 && changed.length <= 2, `${changed.length} blocks changed`);
  assert.deepEqual(
    after.slice(changed.length),
    before.slice(before.length - (after.length - changed.length)),
  );
  assert.ok(after.length - changed.length >= before.length - 2);
});

test("scanCandidates finds exactly the reference candidates and hash", () => {
  fc.assert(
    fc.property(
      inputs,
      fc.constantFrom(...paramSets),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer(),
      fc.nat(2 ** 40),
      (data, p, a, b, hash, base) => {
        const from = Math.floor(Math.min(a, b) * data.length);
        const to = Math.floor(Math.max(a, b) * data.length);
        const masks = cutMasks(p);
        const out: Candidates = { ends: [], strong: [] };
        const h = scanCandidates(data, from, to, hash, masks, base, out);
        const ref = referenceScan(data, from, to, hash, masks, base);
        assert.deepEqual(out, { ends: ref.ends, strong: ref.strong });
        assert.equal(h, ref.hash);
      },
    ),
    { numRuns: 300 },
  );
});

test("chunkBuffer gives the reference blocks", () => {
  fc.assert(
    fc.property(inputs, fc.constantFrom(...paramSets), (data, p) => {
      assert.deepEqual(chunkBuffer(data, p), referenceChunks(data, p));
    }),
    { numRuns: 300 },
  );
});

test("a candidate at almost every byte, across scan windows, is found exactly", () => {
  for (const p of [chunkParams(64), { min: 1, avg: 1, max: 1 }]) {
    const masks = cutMasks(p);
    const data = hitDense(150_000, masks.weak);
    const out: Candidates = { ends: [], strong: [] };
    const h = scanCandidates(data, 0, data.length, 0, masks, 0, out);
    const ref = referenceScan(data, 0, data.length, 0, masks, 0);
    assert.ok(ref.ends.length > 0.99 * data.length, `${ref.ends.length} candidates`);
    assert.deepEqual(out, { ends: ref.ends, strong: ref.strong });
    assert.equal(h, ref.hash);
    assert.deepEqual(chunkBuffer(data, p), referenceChunks(data, p));
  }
});

test("4 MiB of random data: chunkBuffer matches the reference with 64 KiB blocks", () => {
  const data = noise(4 << 20, 3);
  const p = chunkParams(1 << 16);
  assert.deepEqual(chunkBuffer(data, p), referenceChunks(data, p));
});

test("invalid parameters are rejected", () => {
  assert.throws(() => cutMasks({ min: 10, avg: 5, max: 20 }), RangeError);
  assert.throws(() => cutMasks({ min: 0, avg: 5, max: 20 }), RangeError);
  assert.throws(() => new CutPlanner({ min: 1, avg: 2, max: 1.5 }, 10), RangeError);
});
