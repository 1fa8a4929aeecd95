import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { contentDigest, DIGEST_SEGMENT_BYTES } from "../../../src/pipeline/digest.js";
import { BlockPool } from "../../../src/pipeline/pool.js";
import { followDigest } from "../../../src/pipeline/running-digest.js";

const SEGMENT = DIGEST_SEGMENT_BYTES;
const dir = mkdtempSync(join(tmpdir(), "left-running-"));
let pool: BlockPool;
before(async () => {
  pool = await BlockPool.open({ threads: 2 });
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("running digest", () => {
  it("equals the file's digest whatever the order of writes and the prefixes reported", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * SEGMENT + 100 }),
        fc.array(fc.integer({ min: 1, max: 5 << 20 }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        async (size, cuts, seed) => {
          const data = randomBytes(size);
          const path = join(dir, `f${n++}`);
          const fh = await open(path, "w");
          await fh.truncate(size);
          const digest = pool.follow(path);
          // Pieces written in a shuffled order; after each write, the written prefix is reported.
          const pieces: [number, number][] = [];
          for (let at = 0, i = 0; at < size; i++) {
            const len = Math.min(cuts[i % cuts.length]!, size - at);
            pieces.push([at, len]);
            at += len;
          }
          const order = pieces
            .map((_, i) => i)
            .sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13));
          const done = new Set<number>();
          let prefix = 0;
          for (const i of order) {
            const [at, len] = pieces[i]!;
            await fh.write(data, at, len, at);
            done.add(i);
            while (done.has(prefix)) prefix++;
            digest.advance(prefix < pieces.length ? pieces[prefix]![0] : size);
          }
          await fh.close();
          assert.equal(await digest.finish(size), contentDigest(data));
        },
      ),
      { numRuns: 10 },
    );
  });

  it("hashes each segment once, as soon as the written prefix covers it", async () => {
    const data = randomBytes(2 * SEGMENT + 7);
    const path = join(dir, "early");
    await writeFile(path, data);
    const asked: number[] = [];
    const digest = followDigest(path, async (_path, size, index, cancel) => {
      asked.push(index);
      return hashSegment(data, size, index, cancel);
    });
    digest.advance(SEGMENT - 1);
    assert.deepEqual(asked, []);
    digest.advance(SEGMENT + 5);
    assert.deepEqual(asked, [0]);
    digest.advance(SEGMENT + 6);
    digest.advance(2 * SEGMENT);
    assert.deepEqual(asked, [0, 1]);
    assert.equal(await digest.finish(data.length), contentDigest(data));
    assert.deepEqual(asked, [0, 1, 2], "only the tail is left at the end");
  });

  it("answers null for a missing or short file, after abort, and when sizes disagree", async () => {
    assert.equal(await pool.follow(join(dir, "missing")).finish(10), null);
    const short = join(dir, "short");
    await writeFile(short, randomBytes(100));
    const d = pool.follow(short);
    d.advance(50);
    assert.equal(await d.finish(200), null);
    const aborted = pool.follow(short);
    aborted.abort();
    assert.equal(await aborted.finish(100), null, "finish after abort");
    const big = join(dir, "big");
    await writeFile(big, randomBytes(2 * SEGMENT));
    const shrunk = pool.follow(big);
    shrunk.advance(2 * SEGMENT);
    assert.equal(await shrunk.finish(SEGMENT), null, "two segments hashed, one claimed");
  });
});

/** The hash of one segment of in-memory data, as the pool's task computes it from the file. */
function hashSegment(data: Uint8Array, size: number, index: number, cancel: Int32Array): Uint8Array {
  assert.equal(Atomics.load(cancel, 0), 0);
  const end = Math.min(size, (index + 1) * SEGMENT);
  return Buffer.from(contentDigest(data.subarray(index * SEGMENT, end)), "hex");
}
