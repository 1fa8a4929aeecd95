import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { lockShare } from "../../../src/cli/lock.js";

describe("lockShare", async () => {
  const dir = await mkdtemp(join(tmpdir(), "left-lock-"));
  await mkdir(join(dir, ".left"));
  const pidFile = join(dir, ".left/daemon.pid");
  after(() => rm(dir, { recursive: true, force: true }));

  it("takes a free share, refuses a share held by a live process, releases on request", async () => {
    const lock = await lockShare(dir);
    assert.ok("release" in lock);
    assert.equal((await readFile(pidFile, "utf8")).trim(), String(process.pid));
    await writeFile(pidFile, `${process.ppid}\n`);
    assert.deepEqual(await lockShare(dir), { heldBy: process.ppid });
    await writeFile(pidFile, `${process.pid}\n`);
    await lock.release();
    await assert.rejects(stat(pidFile));
  });

  it("takes over a lock left by a process that is gone", async () => {
    const child = spawnSync(process.execPath, ["-e", ""]);
    await writeFile(pidFile, `${child.pid}\n`); // a process that has exited
    const lock = await lockShare(dir);
    assert.ok("release" in lock);
    await lock.release();
    await writeFile(pidFile, "garbage");
    const again = await lockShare(dir);
    assert.ok("release" in again);
    await again.release();
  });
});
