/**
 * Downloads claim disk space before they start (DiskSpace), so a file larger than the free space is
 * refused with one log line and retried later instead of filling the disk.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import { initHasher } from "../../../src/pipeline/hash.js";
import { Assembler, TMP_DIR } from "../../../src/sync/assembler.js";
import { ByteBudget } from "../../../src/sync/budget.js";
import { DISK_HEADROOM_BYTES, DiskSpace, Reservation } from "../../../src/sync/disk-space.js";
import { BlockFetcher } from "../../../src/sync/fetcher.js";
import { ioProblem } from "../../../src/sync/io-errors.js";
import { RecycleBin } from "../../../src/sync/recycle.js";
import { systemClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { servingPeer } from "./fakes.js";
import { DEV_A, DEV_B, describeBytes, fileDigest } from "./fixtures.js";

await initHasher();

const MiB = 1024 * 1024;

describe("DiskSpace", () => {
  it("admits a download only if it fits beside the others' unwritten claims and the headroom", async () => {
    let free = DISK_HEADROOM_BYTES + 10 * MiB;
    const space = new DiskSpace("/unused", async () => free);
    const first = await space.reserve(6 * MiB);
    assert.ok(first instanceof Reservation);
    assert.deepEqual(await space.reserve(5 * MiB), { free: 4 * MiB }, "the first claim counts");
    // As the first download writes, the file system's free space shrinks and its claim with it.
    first.written(2 * MiB);
    free -= 2 * MiB;
    assert.deepEqual(await space.reserve(5 * MiB), { free: 4 * MiB });
    first.release();
    assert.equal(space.reservedBytes, 0);
    const second = await space.reserve(5 * MiB);
    assert.ok(second instanceof Reservation);
    second.written(9 * MiB);
    second.release();
    assert.equal(space.reservedBytes, 0, "never released twice");
  });

  it("admits everything when the file system cannot tell its free space", async () => {
    const space = new DiskSpace("/unused", () => Promise.reject(new Error("ENOSYS")));
    assert.ok((await space.reserve(2 ** 50)) instanceof Reservation);
  });
});

describe("ioProblem", () => {
  it("names the failures a user can fix, and passes others through", () => {
    const err = (code: string) => Object.assign(new Error(`${code}: boom`), { code });
    assert.equal(ioProblem(err("ENOSPC")), "disk full (ENOSPC)");
    assert.equal(ioProblem(err("SQLITE_FULL")), "disk full (SQLITE_FULL)");
    assert.equal(ioProblem(err("EROFS")), "read-only file system (EROFS)");
    assert.equal(ioProblem(err("EWHATEVER")), "EWHATEVER: boom");
    assert.equal(ioProblem("plain"), "plain");
  });
});

describe("Assembler without enough disk space", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-space-"));
  await mkdir(join(root, TMP_DIR), { recursive: true });
  const db = IndexDb.open(root);
  const recycle = new RecycleBin(root, systemClock);
  await recycle.open();
  after(async () => {
    recycle.close();
    db.close();
    await rm(root, { recursive: true, force: true });
  });

  const data = randomBytes(200_000);
  const target = describeBytes("big.bin", data, { [DEV_A]: 1 });
  const fetcher = new BlockFetcher(systemClock, 10_000);
  const { peer } = servingPeer(fetcher, data);
  let free = 0;
  const log = memoryLogger();
  const assembler = new Assembler({
    dir: root,
    db,
    recycle,
    fetcher,
    budget: new ByteBudget(MiB),
    digestOf: fileDigest,
    clock: systemClock,
    log,
    space: new DiskSpace(root, async () => free),
  });

  it("refuses before creating or requesting anything, logs once, and succeeds once space is freed", async () => {
    assert.ok(target.blocks.length > 1, "a multi-block file (the resumable path)");
    free = DISK_HEADROOM_BYTES + data.length - 1;
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.deepEqual(await assembler.assemble(target, () => [peer]), { ok: false, reason: "no-space" });
    }
    assert.equal(peer.messages.length, 0, "nothing requested");
    assert.deepEqual(await readdir(join(root, TMP_DIR)), [], "no tmp file");
    assert.equal(db.getPartial(target.path, target.digest), undefined);
    const lines = log.records.filter((r) => r.event === "pull.no_space");
    assert.equal(lines.length, 1, "one line per refused version, not per attempt");
    assert.match(lines[0]!.message, /not enough free disk space: 200000 bytes to write/);

    free += 1;
    const done = await assembler.assemble(target, () => [peer]);
    assert.ok(done.ok);
    assert.deepEqual(await readFile(done.tmpPath), data);
  });

  it("refuses a small (single-block) file the same way", async () => {
    const small = describeBytes("small.txt", Buffer.from("tiny"), { [DEV_B]: 1 });
    free = DISK_HEADROOM_BYTES;
    assert.deepEqual(await assembler.assemble(small, () => [peer]), { ok: false, reason: "no-space" });
  });
});
