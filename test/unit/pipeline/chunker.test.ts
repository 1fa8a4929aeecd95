import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import {
  type BlockRange,
  type Candidates,
  CutPlanner,
  chunkBuffer,
  cutMasks,
  GEAR_WARMUP,
  rollHash,
  scanCandidates,
} from "../../../src/pipeline/chunker.js";
import { GEAR } from "../../../src/pipeline/gear.js";
import { type ChunkParams, chunkParams } from "../../../src/pipeline/types.js";

/** Small blocks so that property tests see many cuts in small inputs. */
const small: ChunkParams = chunkParams(256);

/** Deterministic pseudo-random bytes (xorshift32), fast enough for tens of MiB. */
function noise(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = seed | 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = i * 7;
  return out;
}

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

test("invalid parameters are rejected", () => {
  assert.throws(() => cutMasks({ min: 10, avg: 5, max: 20 }), RangeError);
  assert.throws(() => cutMasks({ min: 0, avg: 5, max: 20 }), RangeError);
  assert.throws(() => new CutPlanner({ min: 1, avg: 2, max: 1.5 }, 10), RangeError);
});
