import assert from "node:assert/strict";
import { before, test } from "node:test";
import fc from "fast-check";
import type { BlockInfo } from "../../../src/index/types.js";
import {
  chunkBuffer,
  cutMasks,
  GEAR_WARMUP,
  rollHash,
  scanCandidates,
} from "../../../src/pipeline/chunker.js";
import { initHasher, xxh64Hex } from "../../../src/pipeline/hash.js";
import { type PreviousVersion, planShifts, type RehashTasks, rehash } from "../../../src/pipeline/rehash.js";
import { type ChunkParams, chunkParams } from "../../../src/pipeline/types.js";
import { noise } from "../../helpers/noise.js";

/** min 64, avg 256, max 1024: many blocks in inputs of a few KiB. */
const params: ChunkParams = chunkParams(256);

before(initHasher);

/** Blocks of `data` as hashing from scratch gives them. */
function fromScratch(data: Uint8Array): BlockInfo[] {
  return chunkBuffer(data, params).map((b) => ({
    ...b,
    hash: xxh64Hex(data.subarray(b.offset, b.offset + b.size)),
  }));
}

/** The pool's tasks computed in memory, counting the bytes each kind of task went through. */
function memoryTasks(data: Uint8Array): RehashTasks & { scanned: number; hashed: number } {
  const tasks = {
    scanned: 0,
    hashed: 0,
    candidates: async (start: number, end: number) => {
      tasks.scanned += end - start;
      const out = { ends: [] as number[], strong: [] as boolean[] };
      const h = rollHash(data, Math.max(0, start - GEAR_WARMUP), start, 0);
      scanCandidates(data, start, end, h, cutMasks(params), 0, out);
      return out;
    },
    hashes: async (ranges: readonly { offset: number; size: number }[]) =>
      ranges.map((r) => {
        tasks.hashed += r.size;
        return xxh64Hex(data.subarray(r.offset, r.offset + r.size));
      }),
    lookahead: 4,
    scanBytes: 4 * params.max,
    batchBytes: 4096,
  };
  return tasks;
}

type Edit =
  | { kind: "overwrite"; at: number; bytes: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number };

function apply(data: Uint8Array, e: Edit): Uint8Array {
  const at = Math.min(e.at, data.length);
  if (e.kind === "overwrite") {
    const out = new Uint8Array(Math.max(data.length, at + e.bytes.length));
    out.set(data);
    out.set(e.bytes, at);
    return out;
  }
  if (e.kind === "insert") return Buffer.concat([data.subarray(0, at), e.bytes, data.subarray(at)]);
  return Buffer.concat([data.subarray(0, at), data.subarray(at + e.length)]);
}

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant("overwrite" as const),
    at: fc.nat(40_000),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(40_000),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: fc.nat(40_000),
    length: fc.integer({ min: 1, max: 3000 }),
  }),
);

async function rehashed(before: Uint8Array, after: Uint8Array) {
  const prev: PreviousVersion = { size: before.length, blocks: fromScratch(before) };
  const tasks = memoryTasks(after);
  const shifts = await planShifts(after.length, prev, params, tasks);
  const blocks = shifts.length === 0 ? null : await rehash(after.length, prev, params, shifts, tasks);
  return { blocks, shifts, tasks };
}

test("re-hashing from the previous block list gives exactly the blocks hashing from scratch gives", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 4000, max: 40_000 }),
      fc.integer(),
      fc.array(editArb, { minLength: 1, maxLength: 4 }),
      async (size, seed, edits) => {
        const before = noise(size, seed);
        const after = edits.reduce(apply, before);
        const { blocks } = await rehashed(before, after);
        if (blocks !== null) assert.deepEqual(blocks, fromScratch(after));
      },
    ),
    { numRuns: 300 },
  );
});

test("an edit in place, an insertion and a deletion re-scan only around the change", async () => {
  const before = noise(200_000, 7);
  const cases: [string, Uint8Array][] = [
    ["overwrite", apply(before, { kind: "overwrite", at: 100_000, bytes: noise(500, 8) })],
    ["insert at the start", apply(before, { kind: "insert", at: 0, bytes: noise(100, 9) })],
    ["delete in the middle", apply(before, { kind: "delete", at: 120_000, length: 333 })],
    ["append", apply(before, { kind: "insert", at: before.length, bytes: noise(5000, 10) })],
  ];
  for (const [name, after] of cases) {
    const { blocks, shifts, tasks } = await rehashed(before, after);
    assert.deepEqual(blocks, fromScratch(after), name);
    assert.ok(tasks.scanned < after.length / 10, `${name}: scanned ${tasks.scanned} of ${after.length}`);
    assert.ok(shifts.length > 0, name);
  }
});

test("a file rewritten throughout is left to hashing from scratch after a few sampled blocks", async () => {
  const { shifts, tasks } = await rehashed(noise(200_000, 1), noise(200_000, 2));
  assert.deepEqual(shifts, []);
  assert.ok(tasks.hashed < 20 * params.max, `hashed ${tasks.hashed}`);
});
