/**
 * Black-box edge cases with three `left` processes: a deletion that happens while a peer is down, a
 * concurrent edit (conflict copy on every peer), a thousand small files, and a rename that moves no data.
 */
import assert from "node:assert/strict";
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type LeftProcess,
  mesh,
  seconds,
  THREE_HOSTS,
  waitFor,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;
const TIMEOUT_MS = 60_000;

describe("sync: edge cases", { timeout: 240_000 }, () => {
  let root = "";
  let A: LeftProcess;
  let B: LeftProcess;
  let C: LeftProcess;
  const all = () => [A, B, C];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-edge-"));
    ({ A, B, C } = await mesh(root, THREE_HOSTS));
    for (const p of all()) p.start();
  });

  after(async () => {
    await Promise.all([A, B, C].map((p) => p.kill()));
    await rm(root, { recursive: true, force: true });
  });

  it("deletes on a peer that was down when the deletion happened", async (t) => {
    await mkdir(join(A.dir, "old/deeper"), { recursive: true });
    await writeFile(join(A.dir, "old/deeper/a.txt"), "a");
    await writeFile(join(A.dir, "old/b.txt"), "b");
    await writeFile(join(A.dir, "keep.txt"), "keep");
    await waitForSameTrees(all(), TIMEOUT_MS);
    assert.equal(await C.stop(), 0, "clean exit on SIGTERM");
    await rm(join(A.dir, "old"), { recursive: true });
    await waitForSameTrees([A, B], TIMEOUT_MS);
    C.start();
    const t0 = performance.now();
    const trees = await waitForSameTrees(all(), TIMEOUT_MS);
    assert.deepEqual([...trees.keys()], ["keep.txt"]);
    t.diagnostic(`deletion reached the restarted peer in ${seconds(performance.now() - t0)}`);
  });

  it("keeps the loser of a concurrent edit as a conflict copy on every peer", async (t) => {
    await writeFile(join(A.dir, "doc.txt"), "original\n");
    await waitForSameTrees(all(), TIMEOUT_MS);
    await B.stop();
    // Both sides edit while apart; A's edit is later, so A's content wins everywhere.
    await writeFile(join(A.dir, "doc.txt"), "edited on A\n");
    await writeFile(join(B.dir, "doc.txt"), "edited on B\n");
    const base = Date.now() / 1000;
    await utimes(join(B.dir, "doc.txt"), base - 100, base - 100);
    await utimes(join(A.dir, "doc.txt"), base, base);
    await waitForSameTrees([A, C], TIMEOUT_MS);
    B.start();
    const t0 = performance.now();
    const trees = await waitForSameTrees(all(), TIMEOUT_MS);
    const copies = [...trees.keys()].filter((p) =>
      /^doc\.sync-conflict-\d{8}-\d{6}-[0-9a-f]{7}\.txt$/.test(p),
    );
    assert.equal(copies.length, 1, `one conflict copy, got ${[...trees.keys()].join(", ")}`);
    for (const { dir } of all()) {
      assert.equal(await readFile(join(dir, "doc.txt"), "utf8"), "edited on A\n");
      assert.equal(await readFile(join(dir, copies[0]!), "utf8"), "edited on B\n");
    }
    t.diagnostic(`conflict resolved on all peers in ${seconds(performance.now() - t0)}: ${copies[0]}`);
  });

  it("syncs links and permission changes, and deletes a directory holding a link", async (t) => {
    await mkdir(join(A.dir, "links"));
    await writeFile(join(A.dir, "links/target.txt"), "target\n");
    await symlink("target.txt", join(A.dir, "links/ok"));
    await symlink("../../outside-the-share", join(A.dir, "links/escaping"));
    const t0 = performance.now();
    await waitFor(
      "the link on B and C",
      async () => {
        const links = await Promise.all([B, C].map((p) => readlink(join(p.dir, "links/ok")).catch(() => "")));
        return links.every((l) => l === "target.txt");
      },
      TIMEOUT_MS,
    );
    t.diagnostic(`symlink synced in ${seconds(performance.now() - t0)}`);
    for (const p of [B, C])
      await assert.rejects(readlink(join(p.dir, "links/escaping")), "a link leaving the share is not synced");
    await chmod(join(A.dir, "links/target.txt"), 0o600);
    await waitFor(
      "mode 600 on B and C",
      async () => {
        // The link may arrive before its target: a missing target is "not yet", not a failure.
        const modes = await Promise.all(
          [B, C].map((p) => stat(join(p.dir, "links/target.txt")).catch(() => null)),
        );
        return modes.every((m) => m !== null && (m.mode & 0o777) === 0o600);
      },
      TIMEOUT_MS,
    );
    await rm(join(A.dir, "links"), { recursive: true });
    await waitForSameTrees(all(), TIMEOUT_MS);
    for (const p of [B, C]) await assert.rejects(stat(join(p.dir, "links")));
  });

  it("syncs 1,000 small files", async (t) => {
    for (let d = 0; d < 10; d++) {
      await mkdir(join(A.dir, `many/d${d}`), { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          writeFile(join(A.dir, `many/d${d}/f${i}.txt`), `file ${d}/${i}\n`.repeat(1 + i)),
        ),
      );
    }
    const t0 = performance.now();
    const trees = await waitForSameTrees(all(), TIMEOUT_MS);
    assert.equal([...trees.keys()].filter((p) => p.startsWith("many/") && p.endsWith(".txt")).length, 1000);
    t.diagnostic(`1,000 small files synced to two peers in ${seconds(performance.now() - t0)}`);
  });

  it("renames without moving the data again", async (t) => {
    await writeRandomFile(join(A.dir, "big.bin"), 8 * MiB);
    await waitForSameTrees(all(), TIMEOUT_MS);
    await waitFor("in sync", async () => (await B.status())?.inSync === true, TIMEOUT_MS);
    const before = (await B.status())!.wire.bytesReceived;
    await mkdir(join(A.dir, "moved"));
    await rename(join(A.dir, "big.bin"), join(A.dir, "moved/renamed.bin"));
    const t0 = performance.now();
    const trees = await waitForSameTrees(all(), TIMEOUT_MS);
    assert.ok(trees.has("moved/renamed.bin") && !trees.has("big.bin"));
    await waitFor("in sync", async () => (await B.status())?.inSync === true, TIMEOUT_MS);
    const received = (await B.status())!.wire.bytesReceived - before;
    t.diagnostic(
      `rename synced in ${seconds(performance.now() - t0)}, B received ${(received / 1024).toFixed(0)} KiB`,
    );
    assert.ok(received < MiB, `a rename of 8 MiB moved ${received} bytes`);
  });
});
