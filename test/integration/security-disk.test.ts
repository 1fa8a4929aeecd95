/**
 * A receiving daemon whose disk is full or whose share is partly read-only, black-box. The disks are
 * small tmpfs mounts and a read-only bind mount (the tests run as root; chmod does not stop root), so
 * these tests are skipped where mounting is not permitted.
 *
 *   X (127.0.6.2, normal disk) ⇄ Y (127.0.6.3, share on the mount under test)
 *
 * In each case Y logs one clear line, puts no partial file into its share, keeps running, and completes
 * the transfer on a later attempt once the disk problem is gone.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { watch } from "node:fs";
import { mkdir, mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { freePort, LeftProcess, tree, waitFor, waitForSameTrees, writeRandomFile } from "../helpers/procs.js";

const MiB = 1024 * 1024;
const X_HOST = "127.0.6.2";
const Y_HOST = "127.0.6.3";
/** Retries back off 1, 2, 4, 8 s…: a transfer resumes within this after the problem is gone. */
const RECOVERY_MS = 40_000;

function mount(args: string[]): boolean {
  try {
    execFileSync("mount", args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function unmount(dir: string): void {
  execFileSync("umount", ["-l", dir], { stdio: "ignore" });
}

/** waitFor, failing with the daemons' state and last log lines. */
async function waitOn(
  procs: LeftProcess[],
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n  ${procs.map((p) => p.describe(20)).join("\n  ")}`);
  }
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

describe("security: disk full and read-only shares", { timeout: 180_000 }, () => {
  let root = "";
  let port = 0;
  const mounts: string[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-security-disk-"));
    port = await freePort([X_HOST, Y_HOST]);
  });

  after(async () => {
    for (const dir of mounts.reverse()) unmount(dir);
    await rm(root, { recursive: true, force: true });
  });

  /** X with its share on the normal disk, Y with `yDir`; both stopped when the test ends. */
  function pair(t: TestContext, name: string, yDir: string) {
    const make = (side: string, host: string, peer: string, dir: string) =>
      new LeftProcess({ name: `${name}-${side}`, dir, host, port, peers: [`${peer}:${port}`] });
    const X = make("X", X_HOST, Y_HOST, join(root, name, "X"));
    const Y = make("Y", Y_HOST, X_HOST, yDir);
    t.after(() => Promise.all([X.kill(), Y.kill()]));
    return { X, Y };
  }

  /** A tmpfs of `size` bytes at `<root>/<name>/disk`, or null (and the test skipped) if not permitted. */
  async function tmpfs(t: TestContext, name: string, size: number): Promise<string | null> {
    const disk = join(root, name, "disk");
    await mkdir(disk, { recursive: true });
    if (!mount(["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", disk])) {
      t.skip("mounting a tmpfs is not permitted here");
      return null;
    }
    mounts.push(disk);
    return disk;
  }

  const lines = (p: LeftProcess, re: RegExp) =>
    p
      .log()
      .split("\n")
      .filter((l) => re.test(l));

  it("refuses a file larger than the free space with one log line, and fetches it once space is freed", async (t) => {
    const disk = await tmpfs(t, "free", 40 * MiB);
    if (disk === null) return;
    const { X, Y } = pair(t, "free", join(disk, "share"));
    await writeRandomFile(join(X.dir, "big.bin"), 24 * MiB);
    await writeFile(join(X.dir, "small.txt"), "fits\n");
    // 28 MiB stay free: less than the 24 MiB file plus the headroom kept for the index.
    await writeRandomFile(join(disk, "filler"), 12 * MiB);
    X.start();
    Y.start();
    await waitOn(
      [X, Y],
      "the refusal",
      () => lines(Y, /not enough free disk space: 25165824 bytes to write/).length > 0,
      20_000,
    );
    await waitOn([X, Y], "small.txt, which fits", async () => (await tree(Y.dir)).has("small.txt"), 10_000);
    const seen = await tree(Y.dir);
    assert.equal(seen.has("big.bin"), false, "no partial file in the share");
    assert.ok(Y.running, Y.describe());
    assert.equal(lines(Y, /not enough free disk space/).length, 1, "logged once, not per retry");

    await rm(join(disk, "filler"));
    await waitForSameTrees([X, Y], RECOVERY_MS);
  });

  it("survives the disk filling up during a download, keeps no partial file in the share, resumes once freed", async (t) => {
    const disk = await tmpfs(t, "full", 96 * MiB);
    if (disk === null) return;
    const { X, Y } = pair(t, "full", join(disk, "share"));
    await writeRandomFile(join(X.dir, "mid.bin"), 48 * MiB);
    const tmp = join(Y.dir, ".left", "tmp");
    await mkdir(tmp, { recursive: true });
    // The moment Y starts writing the download, freeze it, fill the disk behind its back, let it go on.
    const filled = new Promise<void>((resolve, reject) => {
      const watcher = watch(tmp, (_event, name) => {
        if (!name?.endsWith(".part")) return;
        watcher.close();
        void (async () => {
          const pid = (await Y.status())?.pid;
          if (pid === undefined) throw new Error("no status.json");
          process.kill(pid, "SIGSTOP");
          try {
            await writeRandomFile(join(disk, "filler"), (await freeBytes(disk)) - 2 * MiB);
          } finally {
            process.kill(pid, "SIGCONT");
          }
        })().then(resolve, reject);
      });
    });
    Y.start();
    await waitOn([X, Y], "Y's status", async () => (await Y.status()) !== null, 10_000);
    X.start();
    await filled;
    await waitOn(
      [X, Y],
      "the write failure",
      () => lines(Y, /cannot write the download: disk full \(ENOSPC\); will retry/).length > 0,
      20_000,
    );
    assert.equal((await tree(Y.dir)).has("mid.bin"), false, "no partial file in the share");
    assert.ok(Y.running, Y.describe());

    await rm(join(disk, "filler"));
    await waitForSameTrees([X, Y], RECOVERY_MS);
    // Blocks recorded as done before the failure were whole: the resumed file was right the first time.
    assert.deepEqual(lines(Y, /does not match its digest/), []);
  });

  it("cannot write into a read-only part of the share: logs why, keeps running, completes once writable", async (t) => {
    const yDir = join(root, "ro", "Y");
    const ro = join(yDir, "ro");
    await mkdir(ro, { recursive: true });
    if (!mount(["--bind", "-o", "ro", ro, ro])) {
      t.skip("a read-only bind mount is not permitted here");
      return;
    }
    mounts.push(ro);
    const { X, Y } = pair(t, "ro", yDir);
    await mkdir(join(X.dir, "ro", "newdir"), { recursive: true });
    await writeFile(join(X.dir, "ro", "small.txt"), "read-only target\n");
    await writeRandomFile(join(X.dir, "ro", "big.bin"), 3 * MiB);
    await writeFile(join(X.dir, "writable.txt"), "elsewhere\n");
    X.start();
    Y.start();
    const why =
      /cannot (pull|mkdir) yet: (read-only file system \(EROFS\)|the target is on another mount.*\(EXDEV\)); will retry/;
    await waitOn([X, Y], "the failures logged", () => lines(Y, why).length >= 3, 20_000);
    await waitOn(
      [X, Y],
      "the writable part synced",
      async () => (await tree(Y.dir)).has("writable.txt"),
      10_000,
    );
    const seen = await tree(Y.dir);
    assert.deepEqual(
      [...seen.keys()].filter((p) => p.startsWith("ro/")),
      [],
      "nothing, and no partial file, in the read-only folder",
    );
    assert.ok(Y.running, Y.describe());

    unmount(ro);
    mounts.pop();
    await waitForSameTrees([X, Y], RECOVERY_MS);
  });
});
