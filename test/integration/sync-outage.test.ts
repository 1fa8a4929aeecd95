/**
 * A link that goes dark for longer than the transport's idle timeout in the middle of a big pull: both
 * sides declare the peer down, the pull stops with its verified blocks recorded, and once the link is
 * back the daemons reconnect by themselves and the pull resumes from those blocks.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type LeftProcess,
  relayedPair,
  seconds,
  waitFor,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;

describe("sync: a link outage in the middle of a pull", { timeout: 180_000 }, () => {
  let root = "";
  let relay: ChildProcess;
  let stop = async () => {};
  let A: LeftProcess;
  let B: LeftProcess;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-outage-"));
    await writeRandomFile(join(root, "A", "big.bin"), SIZE);
    ({ A, B, relay, stop } = await relayedPair(root, ["--loss", "0.01", "--delay", "1", "--seed", "11"]));
    A.start();
    B.start();
  });

  after(async () => {
    await stop();
    await rm(root, { recursive: true, force: true });
  });

  it("resumes by itself after reconnecting, without fetching the file again", async (t) => {
    const t0 = performance.now();
    await waitFor(
      "B receiving",
      async () => ((await B.status())?.wire.bytesReceived ?? 0) > 32 * MiB,
      60_000,
      20,
    );
    // Darkness for longer than the 5 s idle timeout: both sides declare the peer down.
    relay.stdin?.write("blackout 7000\n");
    await waitFor("B notices the outage", () => /peer disconnected/.test(B.log()), 30_000);
    const partial = (await B.status())?.wire.bytesReceived ?? 0;
    const trees = await waitForSameTrees([A, B], 150_000);
    assert.ok(trees.has("big.bin"));
    const received = (await B.status())?.wire.bytesReceived ?? Number.POSITIVE_INFINITY;
    t.diagnostic(
      `${SIZE / MiB} MiB with a 7 s outage: ${seconds(performance.now() - t0)}, ` +
        `${(partial / MiB).toFixed(0)} MiB received before it, ${(received / MiB).toFixed(0)} MiB in all`,
    );
    assert.ok(
      partial > 0 && partial < SIZE,
      `the outage fell inside the transfer (${partial} bytes before it)`,
    );
    assert.ok(
      received < 1.25 * SIZE,
      `blocks received before the outage were kept: ${received} bytes in all`,
    );
    assert.match(B.log(), /peer connected[\s\S]*peer disconnected[\s\S]*peer connected/);
  });
});
