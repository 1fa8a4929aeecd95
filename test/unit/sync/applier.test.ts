import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { initHasher } from "../../../src/pipeline/hash.js";
import { Applier } from "../../../src/sync/applier.js";
import { TMP_DIR } from "../../../src/sync/assembler.js";
import type { Need } from "../../../src/sync/needs.js";
import { RecycleBin } from "../../../src/sync/recycle.js";
import { FakeClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { FakeFolder } from "./fakes.js";
import { DEV_B, describeBytes, dir as dirInfo, tombstone } from "./fixtures.js";

await initHasher();

interface Env {
  dir: string;
  db: IndexDb;
  folder: FakeFolder;
  recycle: RecycleBin;
  applier: Applier;
}

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function env(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), "left-applier-"));
  roots.push(dir);
  const db = IndexDb.open(dir);
  const folder = new FakeFolder(dir, db);
  const recycle = new RecycleBin(dir, new FakeClock());
  await recycle.open();
  await mkdir(join(dir, TMP_DIR), { recursive: true });
  return {
    dir,
    db,
    folder,
    recycle,
    applier: new Applier({ dir, db, folder, recycle, log: memoryLogger() }),
  };
}

/** An assembled file in .left/tmp holding `text`. */
async function assembled(e: Env, text: string): Promise<string> {
  const tmp = join(e.dir, TMP_DIR, `t${Math.random().toString(16).slice(2)}`);
  await writeFile(tmp, text);
  return tmp;
}

function remoteFile(
  path: string,
  text: string,
  version: Record<string, number>,
  over: Partial<FileInfo> = {},
): FileInfo {
  return describeBytes(path, Buffer.from(text), version, {
    modifiedBy: DEV_B,
    mtimeMs: 1_600_000_000_000,
    mode: 0o640,
    ...over,
  });
}

/** A file present on disk and indexed locally, as after a scan. */
async function localFile(
  e: Env,
  path: string,
  text: string,
  version: Record<string, number>,
): Promise<FileInfo> {
  await mkdir(join(e.dir, path, ".."), { recursive: true });
  await writeFile(join(e.dir, path), text);
  const st = await stat(join(e.dir, path));
  return e.folder.recordLocal(
    describeBytes(path, Buffer.from(text), version, {
      modifiedBy: e.db.deviceId,
      mtimeMs: st.mtimeMs,
      mode: st.mode & 0o7777,
    }),
  );
}

describe("Applier", () => {
  let e: Env;
  beforeEach(async () => {
    e = await env();
  });

  it("renames a pulled file into place with its mode and mtime, records it, releases the hold", async () => {
    const target = remoteFile("a/b/new.txt", "hello", { [DEV_B]: 1 });
    const need: Need = { op: "pull", target, loser: null };
    assert.equal(await e.applier.apply(need, undefined, await assembled(e, "hello")), "done");
    assert.equal(await readFile(join(e.dir, "a/b/new.txt"), "utf8"), "hello");
    const st = await stat(join(e.dir, "a/b/new.txt"));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtimeMs, 1_600_000_000_000);
    assert.deepEqual(e.db.getLocal("a/b/new.txt")?.version, { [DEV_B]: 1 });
    assert.equal(e.folder.held.size, 0);
  });

  it("refuses to overwrite an edit the index has not seen, and decisions made on an outdated entry", async () => {
    await writeFile(join(e.dir, "x.txt"), "unindexed local work");
    const target = remoteFile("x.txt", "remote", { [DEV_B]: 1 });
    assert.equal(
      await e.applier.apply({ op: "pull", target, loser: null }, undefined, await assembled(e, "remote")),
      "local-change",
    );
    assert.equal(await readFile(join(e.dir, "x.txt"), "utf8"), "unindexed local work");

    const base = await localFile(e, "y.txt", "v1", { [e.db.deviceId]: 1 });
    await localFile(e, "y.txt", "v2", { [e.db.deviceId]: 2 });
    const newer = remoteFile("y.txt", "remote", { [e.db.deviceId]: 1, [DEV_B]: 1 });
    assert.equal(
      await e.applier.apply({ op: "pull", target: newer, loser: null }, base, await assembled(e, "remote")),
      "stale",
    );
    assert.equal(await readFile(join(e.dir, "y.txt"), "utf8"), "v2");
  });

  it("keeps the losing local copy under its conflict name and records it as a new local file", async () => {
    const mine = await localFile(e, "doc.txt", "mine", { [e.db.deviceId]: 1 });
    const theirs = remoteFile("doc.txt", "theirs", { [e.db.deviceId]: 1, [DEV_B]: 1 });
    const need: Need = { op: "pull", target: theirs, loser: mine };
    assert.equal(await e.applier.apply(need, mine, await assembled(e, "theirs")), "done");
    const names = (await readdir(e.dir)).filter((n) => n !== ".left").sort();
    assert.equal(names.length, 2);
    const copy = names.find((n) => n.startsWith("doc.sync-conflict-"))!;
    assert.match(copy, new RegExp(`^doc\\.sync-conflict-\\d{8}-\\d{6}-${e.db.deviceId.slice(0, 7)}\\.txt$`));
    assert.equal(await readFile(join(e.dir, copy), "utf8"), "mine");
    assert.equal(await readFile(join(e.dir, "doc.txt"), "utf8"), "theirs");
    const recorded = e.db.getLocal(copy)!;
    assert.equal(recorded.digest, mine.digest);
    assert.deepEqual(recorded.version, { [e.db.deviceId]: 1 });
  });

  it("never writes through a symlinked parent directory", async () => {
    const outside = await mkdtemp(join(tmpdir(), "left-outside-"));
    roots.push(outside);
    await symlink(outside, join(e.dir, "evil"));
    const target = remoteFile("evil/x.txt", "payload", { [DEV_B]: 1 });
    assert.equal(
      await e.applier.apply({ op: "pull", target, loser: null }, undefined, await assembled(e, "payload")),
      "blocked",
    );
    assert.deepEqual(await readdir(outside), []);
  });

  it("deletes into the recycle bin, where the blocks stay findable", async () => {
    const local = await localFile(e, "gone.txt", "some content", { [e.db.deviceId]: 1 });
    const target = tombstone("gone.txt", { [e.db.deviceId]: 1, [DEV_B]: 1 });
    assert.equal(await e.applier.apply({ op: "delete", target, loser: null }, local), "done");
    await assert.rejects(stat(join(e.dir, "gone.txt")));
    assert.equal(e.db.getLocal("gone.txt")?.deleted, true);
    const b = local.blocks[0]!;
    assert.ok(e.recycle.find(b.hash, b.size));
  });

  it("replaces a file by a newer directory and a directory by a newer file", async () => {
    const f = await localFile(e, "p", "was a file", { [e.db.deviceId]: 1 });
    const d = dirInfo("p", { [e.db.deviceId]: 1, [DEV_B]: 1 });
    assert.equal(await e.applier.apply({ op: "mkdir", target: d, loser: null }, f), "done");
    assert.ok((await stat(join(e.dir, "p"))).isDirectory());
    const back = remoteFile("p", "a file again", { [e.db.deviceId]: 1, [DEV_B]: 2 });
    const pull: Need = { op: "pull", target: back, loser: null };
    assert.equal(await e.applier.apply(pull, e.db.getLocal("p"), await assembled(e, "a file again")), "done");
    assert.equal(await readFile(join(e.dir, "p"), "utf8"), "a file again");
  });

  it("creates directories and links, and refuses to remove a non-empty directory", async () => {
    const d = dirInfo("d", { [DEV_B]: 1 }, { mode: 0o750 });
    assert.equal(await e.applier.apply({ op: "mkdir", target: d, loser: null }, undefined), "done");
    assert.equal((await stat(join(e.dir, "d"))).mode & 0o7777, 0o750);
    const link = dirInfo("d/l", { [DEV_B]: 1 }, { type: "symlink", target: "../elsewhere" });
    assert.equal(await e.applier.apply({ op: "symlink", target: link, loser: null }, undefined), "done");
    assert.equal(await readlink(join(e.dir, "d/l")), "../elsewhere");
    const unlink = { op: "delete" as const, target: tombstone("d/l", { [DEV_B]: 2 }), loser: null };
    assert.equal(await e.applier.apply(unlink, e.db.getLocal("d/l")), "done");
    await assert.rejects(readlink(join(e.dir, "d/l")));
    await writeFile(join(e.dir, "d/keep"), "x");
    const dirEntry = e.db.getLocal("d")!;
    const rmdir = { op: "delete" as const, target: tombstone("d", { [DEV_B]: 2 }), loser: null };
    assert.equal(await e.applier.apply(rmdir, dirEntry), "blocked");
    assert.ok((await stat(join(e.dir, "d"))).isDirectory());
  });
});
