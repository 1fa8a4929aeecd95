/**
 * Crash safety and joining, black-box: a receiver SIGKILLed in the middle of a large download resumes from
 * the blocks it had verified (fetching only the rest) and never shows a partial file in the share; a peer
 * joining with the data already on disk moves none of it; an encrypted pair syncs while a peer with the
 * wrong key gets nothing.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type LeftProcess,
  mesh,
  seconds,
  waitFor,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;
const TIMEOUT_MS = 90_000;
const PAIR = { A: "127.0.0.2", B: "127.0.0.3" } as const;

describe("sync: resume after SIGKILL, encryption", { timeout: 200_000 }, () => {
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-resume-"));
  });
  const procs: LeftProcess[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await rm(root, { recursive: true, force: true });
  });

  it("resumes a download interrupted by SIGKILL from its verified blocks", async (t) => {
    const size = 256 * MiB;
    const { A, B } = await mesh(join(root, "resume"), PAIR);
    procs.push(A, B);
    await writeRandomFile(join(A.dir, "huge.bin"), size);
    A.start();
    await waitFor("A to index huge.bin", async () => (await A.status())?.files.local === 1, TIMEOUT_MS, 100);
    B.start();
    let atKill = 0;
    await waitFor(
      "B to be part-way through",
      async () => {
        atKill = (await B.status())?.wire.bytesReceived ?? 0;
        return atKill > 24 * MiB;
      },
      TIMEOUT_MS,
      20,
    );
    await B.kill();
    const shareAfterKill = (await readdir(B.dir)).filter((n) => n !== ".left");
    assert.ok(atKill < size * 0.8, `killed too late to test resumption (${atKill} bytes received)`);
    assert.deepEqual(shareAfterKill, [], "no partial file is ever visible in the share");
    const tmpFiles = await readdir(join(B.dir, ".left/tmp"));
    assert.equal(tmpFiles.length, 1, "the download is kept in .left/tmp");

    B.start();
    const t0 = performance.now();
    await waitForSameTrees([A, B], TIMEOUT_MS);
    await waitFor("B in sync", async () => (await B.status())?.inSync === true, TIMEOUT_MS);
    const second = (await B.status())!.wire.bytesReceived;
    t.diagnostic(
      `killed after ${(atKill / MiB).toFixed(0)} MiB received; after restart received ` +
        `${(second / MiB).toFixed(0)} MiB of ${size / MiB} MiB in ${seconds(performance.now() - t0)}`,
    );
    assert.ok(
      second < size - 8 * MiB,
      `resumed download fetched ${second} bytes: verified blocks were not kept`,
    );
    assert.deepEqual(await readdir(join(B.dir, ".left/tmp")), [], "the tmp file became the synced file");
    await Promise.all([A.stop(), B.stop()]);
  });

  it("moves no data when a joining peer already holds the same files; differing ones become conflicts", async (t) => {
    const { A, B } = await mesh(join(root, "seeded"), PAIR);
    procs.push(A, B);
    await writeRandomFile(join(A.dir, "same.bin"), 32 * MiB);
    await mkdir(B.dir, { recursive: true });
    await copyFile(join(A.dir, "same.bin"), join(B.dir, "same.bin"));
    await writeFile(join(A.dir, "differs.txt"), "A's text\n");
    await writeFile(join(B.dir, "differs.txt"), "B's text\n");
    A.start();
    B.start();
    const t0 = performance.now();
    const trees = await waitForSameTrees([A, B], TIMEOUT_MS);
    await waitFor(
      "both in sync",
      async () => (await A.status())?.inSync === true && (await B.status())?.inSync === true,
      TIMEOUT_MS,
    );
    const received = await Promise.all([A, B].map(async (p) => (await p.status())!.wire.bytesReceived));
    t.diagnostic(
      `seeded peers agreed in ${seconds(performance.now() - t0)}, received ${received.join(" and ")} bytes`,
    );
    assert.equal([...trees.keys()].filter((p) => p.startsWith("differs.sync-conflict-")).length, 1);
    for (const r of received) assert.ok(r < MiB, `${r} bytes received although the data was already there`);
    await Promise.all([A.stop(), B.stop()]);
  });

  it("syncs over an encrypted link and refuses a peer with another key", async (t) => {
    const keyFile = join(root, "key");
    await writeFile(keyFile, "correct horse battery staple\n");
    const secure = ["--encryption", "yes", "--key-file", keyFile];
    const { A, B, M } = await mesh(
      join(root, "encrypted"),
      { A: "127.0.0.2", B: "127.0.0.3", M: "127.0.0.4" },
      { A: secure, B: secure, M: ["--encryption", "yes", "--key", "wrong key"] },
    );
    procs.push(A, B, M);
    await writeRandomFile(join(A.dir, "secret.bin"), 4 * MiB);
    A.start();
    B.start();
    M.start();
    const t0 = performance.now();
    await waitForSameTrees([A, B], TIMEOUT_MS);
    t.diagnostic(`encrypted 4 MiB sync in ${seconds(performance.now() - t0)}`);
    await waitFor("M's status", async () => (await M.status()) !== null, TIMEOUT_MS);
    const m = (await M.status())!;
    assert.ok(
      m.peers.every((p) => !p.connected),
      "the peer with the wrong key never connects",
    );
    await assert.rejects(stat(join(M.dir, "secret.bin")));
  });
});
