/**
 * Two `left` processes that only see each other through the lossy relay (its own process): loss,
 * duplication, reordering, corruption and delay on every datagram, changes in both directions.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type LeftProcess,
  relayedPair,
  seconds,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;
describe("sync: through a lossy relay", { timeout: 180_000 }, () => {
  let root = "";
  let stop = async () => {};
  let A: LeftProcess;
  let B: LeftProcess;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-lossy-"));
    ({ A, B, stop } = await relayedPair(root, [
      ...["--loss", "0.03", "--duplicate", "0.01", "--reorder", "0.02", "--corrupt", "0.001"],
      ...["--delay", "2", "--jitter", "2", "--seed", "7"],
    ]));
  });

  after(async () => {
    await stop();
    await rm(root, { recursive: true, force: true });
  });

  it("converges with changes on both sides, byte for byte", async (t) => {
    await writeRandomFile(join(A.dir, "big.bin"), 24 * MiB);
    await mkdir(join(A.dir, "small"), { recursive: true });
    for (let i = 0; i < 100; i++)
      await writeFile(join(A.dir, `small/${i}.txt`), `small file ${i}\n`.repeat(i + 1));
    await writeRandomFile(join(B.dir, "from-b.bin"), 2 * MiB);
    A.start();
    B.start();
    const t0 = performance.now();
    const trees = await waitForSameTrees([A, B], 150_000);
    assert.ok(trees.has("big.bin") && trees.has("from-b.bin") && trees.has("small/99.txt"));
    t.diagnostic(
      `24 MiB + 100 files one way, 2 MiB the other, through 3% loss: ${seconds(performance.now() - t0)}`,
    );
  });
});
