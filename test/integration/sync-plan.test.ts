/**
 * The original test plan, black-box: three `left` processes on 127.0.0.2/.3/.4 joining late, one of them
 * SIGKILLed and restarted, a large file changed in the middle. Each phase prints its duration.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type LeftProcess,
  mesh,
  overwriteRandom,
  seconds,
  THREE_HOSTS,
  waitFor,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;
const PHASE_TIMEOUT_MS = 60_000;

describe("sync: the original test plan", { timeout: 240_000 }, () => {
  let root = "";
  let A: LeftProcess;
  let B: LeftProcess;
  let C: LeftProcess;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-plan-"));
    ({ A, B, C } = await mesh(root, THREE_HOSTS));
  });

  after(async () => {
    await Promise.all([A, B, C].map((p) => p.kill()));
    await rm(root, { recursive: true, force: true });
  });

  it("1. A has File_1; B then C join late and get it", async (t) => {
    A.start();
    await writeRandomFile(join(A.dir, "File_1"), 12 * MiB);
    B.start();
    const t0 = performance.now();
    assert.ok((await waitForSameTrees([A, B], PHASE_TIMEOUT_MS)).has("File_1"));
    const toB = performance.now() - t0;
    C.start();
    const t1 = performance.now();
    await waitForSameTrees([A, B, C], PHASE_TIMEOUT_MS);
    t.diagnostic(
      `phase 1: B had File_1 (12 MiB) ${seconds(toB)} after its start; C ${seconds(performance.now() - t1)}`,
    );
  });

  it("2. B adds File_2 and nested folders; A is SIGKILLed; C gets everything; A restarts and catches up", async (t) => {
    await writeRandomFile(join(B.dir, "File_2"), 5 * MiB);
    await mkdir(join(B.dir, "nested/level2/empty"), { recursive: true });
    await writeFile(join(B.dir, "nested/level2/note.txt"), "nested file\n");
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    await A.kill();
    const trees = await waitForSameTrees([B, C], PHASE_TIMEOUT_MS);
    for (const p of ["File_2", "nested/level2/empty", "nested/level2/note.txt"]) assert.ok(trees.has(p), p);
    const toC = performance.now() - t0;
    A.start();
    const t1 = performance.now();
    await waitForSameTrees([A, B, C], PHASE_TIMEOUT_MS);
    t.diagnostic(
      `phase 2: C complete ${seconds(toC)} after B's change; A caught up ${seconds(performance.now() - t1)} after restart`,
    );
  });

  it("3. C adds a 64 MiB File_3; then 1 MiB in its middle changes and moves ≤ 3 MiB per receiver", async (t) => {
    const file3 = join(C.dir, "File_3");
    await writeRandomFile(file3, 64 * MiB);
    const t0 = performance.now();
    await waitForSameTrees([A, B, C], PHASE_TIMEOUT_MS);
    const copyMs = performance.now() - t0;
    await waitFor(
      "all in sync",
      async () => (await Promise.all([A, B, C].map((p) => p.status()))).every((s) => s?.inSync),
      PHASE_TIMEOUT_MS,
    );
    const before = await Promise.all([A.status(), B.status()]);
    await overwriteRandom(file3, 32 * MiB, MiB);
    const t1 = performance.now();
    await waitForSameTrees([A, B, C], PHASE_TIMEOUT_MS);
    const changeMs = performance.now() - t1;
    // Let the last index announcements and acknowledgements land before reading the counters.
    await waitFor(
      "all in sync",
      async () => (await Promise.all([A, B, C].map((p) => p.status()))).every((s) => s?.inSync),
      PHASE_TIMEOUT_MS,
    );
    const afterStatus = await Promise.all([A.status(), B.status()]);
    const received = afterStatus.map((s, i) => s!.wire.bytesReceived - before[i]!.wire.bytesReceived);
    t.diagnostic(
      `phase 3: 64 MiB copied to A and B in ${seconds(copyMs)}; 1 MiB change synced in ${seconds(changeMs)}, ` +
        `received A ${(received[0]! / MiB).toFixed(2)} MiB, B ${(received[1]! / MiB).toFixed(2)} MiB`,
    );
    for (const r of received) assert.ok(r <= 3 * MiB, `received ${r} bytes for a 1 MiB change`);
  });
});
