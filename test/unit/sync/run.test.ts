import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { initHasher, xxh64Hex } from "../../../src/pipeline/hash.js";
import { badBlocks, planRuns, runBytes } from "../../../src/sync/run.js";

before(() => initHasher());

const blocksArb = fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 60 }).map((sizes) => {
  let offset = 0;
  return sizes.map((size, i) => {
    const b = { offset, size, hash: i.toString(16).padStart(16, "0") };
    offset += size;
    return b;
  });
});

describe("planRuns", () => {
  it("covers every block not done exactly once, in order, with runs of consecutive remote blocks", () => {
    fc.assert(
      fc.property(
        blocksArb,
        fc.func(fc.boolean()),
        fc.func(fc.boolean()),
        fc.integer({ min: 1, max: 2000 }),
        (blocks, isDone, isLocalFn, maxBytes) => {
          const done = new Set(blocks.map((_, i) => i).filter((i) => isDone(i)));
          const local = new Set(blocks.map((_, i) => i).filter((i) => isLocalFn(i)));
          const runs = [...planRuns(blocks, done, (b) => local.has(blocks.indexOf(b)), maxBytes)];
          const covered = runs.flatMap((r) => Array.from({ length: r.count }, (_, k) => r.first + k));
          assert.deepEqual(
            covered,
            blocks.map((_, i) => i).filter((i) => !done.has(i)),
          );
          for (const r of runs) {
            const members = blocks.slice(r.first, r.first + r.count);
            assert.equal(r.bytes, runBytes(members));
            assert.ok(r.count >= 1);
            if (!r.remote) assert.equal(r.count, 1, "a local block is copied on its own");
            for (let k = 0; k < r.count; k++) assert.equal(local.has(r.first + k), !r.remote);
            if (r.count > 1) assert.ok(r.bytes <= maxBytes, "only a lone block may exceed the cap");
          }
          // Maximal: two neighbouring remote runs could not have been one.
          for (let k = 1; k < runs.length; k++) {
            const [a, b] = [runs[k - 1]!, runs[k]!];
            if (a.remote && b.remote && a.first + a.count === b.first)
              assert.ok(a.bytes + b.bytes > maxBytes || b.count === 0);
          }
        },
      ),
    );
  });

  it("asks isLocal only as runs are taken", () => {
    const blocks = Array.from({ length: 10 }, (_, i) => ({ size: 100, hash: String(i) }));
    let asked = 0;
    const runs = planRuns(
      blocks,
      new Set(),
      () => {
        asked++;
        return false;
      },
      300,
    );
    runs.next();
    assert.ok(asked <= 4, `asked ${asked} blocks to yield the first run of 3`);
  });
});

describe("badBlocks", () => {
  it("names exactly the blocks whose bytes do not match, and all of them on a wrong length", () => {
    const data = Buffer.from("0123456789abcdefghij");
    const blocks = [data.subarray(0, 5), data.subarray(5, 12), data.subarray(12)].map((b) => ({
      size: b.length,
      hash: xxh64Hex(b),
    }));
    assert.deepEqual(badBlocks(data, blocks), []);
    const damaged = Buffer.from(data);
    damaged[6] = 0;
    assert.deepEqual(badBlocks(damaged, blocks), [1]);
    assert.deepEqual(badBlocks(data.subarray(1), blocks), [0, 1, 2]);
    assert.deepEqual(badBlocks(Buffer.concat([data, Buffer.of(1)]), blocks), [0, 1, 2]);
  });
});
