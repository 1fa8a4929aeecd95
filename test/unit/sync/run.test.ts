import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { initHasher, xxh64Hex } from "../../../src/pipeline/hash.js";
import { badBlocks, type LocalSource, planRuns, runBytes } from "../../../src/sync/run.js";

before(() => initHasher());

/** Blocks with, for each, where a local copy is: nowhere, or in file x/y right after the previous block's copy or elsewhere. */
const layoutArb = fc
  .array(
    fc.record({
      size: fc.integer({ min: 1, max: 600 }),
      where: fc.constantFrom("remote", "x", "y"),
      adjacent: fc.boolean(),
      done: fc.boolean(),
    }),
    { maxLength: 60 },
  )
  .map((specs) => {
    let prev: LocalSource | undefined;
    let prevSize = 0;
    return specs.map((spec, i) => {
      let source: LocalSource | undefined;
      if (spec.where !== "remote") {
        const offset = spec.adjacent && prev?.abs === spec.where ? prev.offset + prevSize : 10_000 * (i + 1);
        source = { abs: spec.where, offset };
      }
      prev = source;
      prevSize = spec.size;
      return { size: spec.size, hash: i.toString(16).padStart(16, "0"), source, done: spec.done };
    });
  });

describe("planRuns", () => {
  it("covers every block not done once, in order, in maximal runs of blocks that follow each other", () => {
    fc.assert(
      fc.property(layoutArb, fc.integer({ min: 1, max: 2000 }), (blocks, maxBytes) => {
        const done = new Set(blocks.flatMap((b, i) => (b.done ? [i] : [])));
        const runs = [...planRuns(blocks, done, (b) => b.source, maxBytes)];
        const covered = runs.flatMap((r) => Array.from({ length: r.count }, (_, k) => r.first + k));
        assert.deepEqual(
          covered,
          blocks.flatMap((_, i) => (done.has(i) ? [] : [i])),
        );
        for (const r of runs) {
          const members = blocks.slice(r.first, r.first + r.count);
          assert.equal(r.bytes, runBytes(members));
          if (r.count > 1) assert.ok(r.bytes <= maxBytes, "only a lone block may exceed the cap");
          assert.deepEqual(r.source, members[0]!.source ?? null);
          // Every member is where the run says: remote, or right behind the previous one in the same file.
          let at = r.source?.offset ?? 0;
          for (const m of members) {
            if (r.source === null) assert.equal(m.source, undefined);
            else assert.deepEqual(m.source, { abs: r.source.abs, offset: at });
            at += m.size;
          }
        }
        // Maximal: a run ends only where the next block could not have joined it.
        for (let k = 1; k < runs.length; k++) {
          const [a, b] = [runs[k - 1]!, runs[k]!];
          const next = blocks[b.first]!;
          const adjacent = a.first + a.count === b.first;
          const sameWhere =
            a.source === null
              ? next.source === undefined
              : next.source?.abs === a.source.abs && next.source.offset === a.source.offset + a.bytes;
          assert.ok(!adjacent || !sameWhere || a.bytes + next.size > maxBytes);
        }
      }),
    );
  });

  it("locates blocks only as runs are taken", () => {
    const blocks = Array.from({ length: 10 }, (_, i) => ({ size: 100, hash: String(i) }));
    let asked = 0;
    const runs = planRuns(
      blocks,
      new Set(),
      () => {
        asked++;
        return undefined;
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
