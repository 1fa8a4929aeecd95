import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { PrefixDigests } from "../../../src/pipeline/prefix-digest.js";

const dir = mkdtempSync(join(tmpdir(), "left-prefix-"));
/** Every advance passed on, so that the incremental path is what these small files exercise. */
const digests = new PrefixDigests({ advanceStep: 1 });
after(async () => {
  await digests.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("PrefixDigests", () => {
  it("equals the file's SHA-256 whatever the order of writes and the prefixes reported", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        async (size, cuts, seed) => {
          const data = randomBytes(size);
          const path = join(dir, `f${n++}`);
          const fh = await open(path, "w");
          await fh.truncate(size);
          const digest = digests.follow(path);
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
          assert.equal(await digest.finish(size), sha256(data));
        },
      ),
      { numRuns: 25 },
    );
  });

  it("passes progress on in big steps by default and still hashes everything", async () => {
    const own = new PrefixDigests();
    after(() => own.close());
    const data = randomBytes(20 << 20);
    const path = join(dir, "stepped");
    const fh = await open(path, "w");
    const digest = own.follow(path);
    for (let at = 0; at < data.length; at += 1 << 20) {
      await fh.write(data, at, 1 << 20, at);
      digest.advance(at + (1 << 20));
    }
    await fh.close();
    assert.equal(await digest.finish(data.length), sha256(data));
  });

  it("answers null for a missing or short file, and after close", async () => {
    assert.equal(await digests.follow(join(dir, "missing")).finish(10), null);
    const short = join(dir, "short");
    await writeFile(short, randomBytes(100));
    const d = digests.follow(short);
    d.advance(50);
    assert.equal(await d.finish(200), null);
    const aborted = digests.follow(short);
    aborted.abort();
    assert.equal(await aborted.finish(100), null, "finish after abort");
    const own = new PrefixDigests();
    const pending = own.follow(short);
    await own.close();
    assert.equal(await pending.finish(100), null);
  });
});
