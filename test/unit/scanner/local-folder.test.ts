import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { contentDigest } from "../../../src/pipeline/digest.js";
import { BlockPool } from "../../../src/pipeline/pool.js";
import { type ChunkParams, chunkParams, type HashedFile } from "../../../src/pipeline/types.js";
import { type FileHasher, LocalFolder } from "../../../src/scanner/local-folder.js";
import type { Scanner } from "../../../src/scanner/scanner.js";
import { memoryLogger } from "../../../src/util/log.js";
import { sleep, waitFor } from "./events.js";

const chunk = chunkParams(4096);
const dirs: string[] = [];
let pool: BlockPool;

before(async () => {
  pool = await BlockPool.open({ threads: 2 });
});

after(async () => {
  await pool.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function share(): string {
  const d = mkdtempSync(join(tmpdir(), "left-folder-"));
  dirs.push(d);
  return d;
}

function digestOf(data: string): string {
  return contentDigest(Buffer.from(data));
}

/** Counts hashFile calls; `onHashed` may perturb the file between hashing and LocalFolder's re-stat. */
class CountingHasher implements FileHasher {
  readonly calls: string[] = [];
  onHashed: ((absPath: string) => void) | undefined;

  async hashFile(absPath: string, params: ChunkParams, signal?: AbortSignal): Promise<HashedFile> {
    this.calls.push(absPath);
    const result = await pool.hashFile(absPath, params, signal);
    this.onHashed?.(absPath);
    return result;
  }
}

/** A running LocalFolder over `dir` with its own index; collects everything it emits. Stopped after the test. */
function run(t: TestContext, dir: string, hasher = new CountingHasher()) {
  const db = IndexDb.open(dir);
  const folder = LocalFolder.open({ dir, db, pool: hasher, chunk, log: memoryLogger(), debounceMs: 50 });
  const changed: FileInfo[] = [];
  folder.on("changed", (files) => changed.push(...files));
  folder.start();
  const latest = (path: string) => changed.filter((f) => f.path === path).at(-1);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await folder.close();
    db.close();
  };
  t.after(stop);
  return { db, folder, hasher, changed, latest, stop };
}

test("the first scan indexes files, dirs and symlinks with a fresh version by this device", async (t) => {
  const dir = share();
  mkdirSync(join(dir, "d"));
  writeFileSync(join(dir, "d/f"), "content");
  writeFileSync(join(dir, "empty"), "");
  const { symlinkSync } = await import("node:fs");
  symlinkSync("d/f", join(dir, "ln"));
  symlinkSync("/etc/passwd", join(dir, "outside"));
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 4, 3000);
  const dev = r.db.deviceId;
  const f = r.db.getLocal("d/f");
  assert.equal(f?.digest, digestOf("content"));
  assert.equal(f?.size, 7);
  assert.deepEqual(f?.version, { [dev]: 1 });
  assert.equal(f?.modifiedBy, dev);
  assert.equal(f?.blocks.length, 1);
  assert.equal(r.db.getLocal("empty")?.digest, digestOf(""));
  assert.equal(r.db.getLocal("d")?.type, "dir");
  assert.deepEqual([r.db.getLocal("ln")?.type, r.db.getLocal("ln")?.target], ["symlink", "d/f"]);
  assert.equal(r.db.getLocal("outside"), undefined, "a link leaving the share is not synchronized");
  assert.ok(r.db.getLocal("d")!.sequence < f!.sequence, "a directory is recorded before its contents");
  await r.stop();
});

test("a restart does not re-hash unchanged files, but notices offline edits and deletions", async (t) => {
  const dir = share();
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), `file ${i}`);
  const first = run(t, dir);
  await waitFor("initial index", () => first.changed.length === 5, 3000);
  assert.equal(first.hasher.calls.length, 5);
  const before = first.db.getLocal("f1")!;
  await first.stop();

  writeFileSync(join(dir, "f1"), "edited while LEFT was down");
  rmSync(join(dir, "f2"));
  const second = run(t, dir);
  await waitFor("offline changes", () => second.changed.length === 2, 3000);
  await sleep(200);
  assert.equal(second.hasher.calls.length, 1, "only the edited file is hashed");
  const edited = second.latest("f1")!;
  assert.equal(edited.digest, digestOf("edited while LEFT was down"));
  assert.deepEqual(edited.version, { [second.db.deviceId]: before.version[second.db.deviceId] + 1 });
  const gone = second.latest("f2")!;
  assert.equal(gone.deleted, true);
  assert.deepEqual([gone.blocks, gone.digest], [[], ""]);
  assert.equal(second.changed.length, 2);
  await second.stop();
});

test("local deletions become tombstones with bumped versions, children before parents", async (t) => {
  const dir = share();
  mkdirSync(join(dir, "d/e"), { recursive: true });
  writeFileSync(join(dir, "d/e/f"), "f");
  writeFileSync(join(dir, "g"), "g");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 4, 3000);
  const dev = r.db.deviceId;
  const versionOf = (p: string) => r.db.getLocal(p)!.version[dev];
  const before = { g: versionOf("g"), f: versionOf("d/e/f") };

  rmSync(join(dir, "g"));
  await waitFor("file tombstone", () => r.latest("g")?.deleted === true);
  assert.equal(r.latest("g")!.version[dev], before.g + 1);

  rmSync(join(dir, "d"), { recursive: true });
  await waitFor("tree tombstones", () => ["d", "d/e", "d/e/f"].every((p) => r.latest(p)?.deleted));
  assert.equal(r.latest("d/e/f")!.version[dev], before.f + 1);
  const order = ["d/e/f", "d/e", "d"].map((p) => r.latest(p)!.sequence);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.deepEqual(r.db.livePaths(), []);
  await r.stop();
});

test("a file changed while being hashed is hashed again and recorded with its final content", async (t) => {
  const dir = share();
  const r = run(t, dir);
  await waitFor("initial scan", () => r.hasher.calls.length === 0);
  let perturbed = false;
  r.hasher.onHashed = (abs) => {
    if (perturbed) return;
    perturbed = true;
    appendFileSync(abs, " and more");
  };
  writeFileSync(join(dir, "growing"), "start");
  await waitFor("final content", () => r.latest("growing")?.digest === digestOf("start and more"), 3000);
  assert.ok(r.hasher.calls.length >= 2);
  assert.ok(
    r.changed.filter((f) => f.path === "growing").every((f) => f.digest === digestOf("start and more")),
  );
  await r.stop();
});

test("recordPulled stores the remote version and the scanner does not echo the write", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "existing"), "v1");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 1, 3000);
  const calls = r.hasher.calls.length;
  const remoteVersion = { peer0000000000000000000000000000: 7, [r.db.deviceId]: 1 };
  mkdirSync(join(dir, ".left/tmp"), { recursive: true });

  for (const path of ["existing", "fresh"]) {
    r.folder.hold(path);
    writeFileSync(join(dir, ".left/tmp/t"), `pulled ${path}`);
    renameSync(join(dir, ".left/tmp/t"), join(dir, path));
    const stored = await r.folder.recordPulled({
      path,
      type: "file",
      size: `pulled ${path}`.length,
      mtimeMs: 0,
      mode: 0o644,
      deleted: false,
      version: remoteVersion,
      modifiedBy: "peer0000000000000000000000000000",
      blocks: [],
      digest: digestOf(`pulled ${path}`),
      target: "",
    });
    r.folder.release(path);
    assert.equal(stored.sequence, r.db.localSequence());
    assert.deepEqual(r.db.getLocal(path)?.version, remoteVersion);
  }
  r.folder.hold("existing");
  rmSync(join(dir, "existing"));
  const tomb = await r.folder.recordPulled({
    ...r.db.getLocal("existing")!,
    deleted: true,
    version: { p: 9 },
  });
  r.folder.release("existing");
  assert.equal(tomb.deleted, true);

  await sleep(400);
  r.folder.rescan();
  await sleep(400);
  assert.deepEqual(r.changed.length, 1, "no local change was recorded for LEFT's own writes");
  assert.equal(r.hasher.calls.length, calls, "nothing was re-hashed");
  assert.deepEqual(r.db.getLocal("fresh")?.version, remoteVersion);
  assert.deepEqual(r.db.getLocal("existing")?.version, { p: 9 });
  await r.stop();
});

test("a directory replaced by a file tombstones what was below it", async (t) => {
  const dir = share();
  mkdirSync(join(dir, "x"));
  writeFileSync(join(dir, "x/inner"), "i");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 2, 3000);
  rmSync(join(dir, "x"), { recursive: true });
  writeFileSync(join(dir, "x"), "now a file");
  await waitFor(
    "replacement",
    () => r.db.getLocal("x")?.type === "file" && r.db.getLocal("x/inner")?.deleted === true,
  );
  assert.deepEqual(
    r.db.livePaths().map((f) => f.path),
    ["x"],
  );
  await r.stop();
});

test("touching a file without changing it creates no new version", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "f"), "same");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 1, 3000);
  const { utimesSync } = await import("node:fs");
  utimesSync(join(dir, "f"), new Date(), new Date(Date.now() + 5000));
  await waitFor("re-hash", () => r.hasher.calls.length === 2);
  await sleep(200);
  assert.equal(r.changed.length, 1);
  assert.equal(r.db.getStat("f")?.mtimeMs, (await import("node:fs")).statSync(join(dir, "f")).mtimeMs);
  await r.stop();
});

test("a full scan that missed an existing entry does not tombstone it", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "late"), "created after the walk passed its directory");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 1, 3000);
  // Replays a full scan whose walk did not list "late", as when it is created right behind the walk.
  const scanner = (r.folder as unknown as { scanner: Scanner }).scanner;
  scanner.emit("scanStart");
  scanner.emit("scanComplete");
  scanner.emit("gone", ["late"]);
  await sleep(300);
  assert.equal(r.db.getLocal("late")?.deleted, false);
  assert.equal(r.changed.length, 1);
});

test("a directory deleted and recreated at once: old contents tombstoned, new ones indexed", async (t) => {
  const dir = share();
  mkdirSync(join(dir, "d"));
  writeFileSync(join(dir, "d/old"), "old");
  const r = run(t, dir);
  await waitFor("initial index", () => r.changed.length === 2, 3000);
  rmSync(join(dir, "d"), { recursive: true });
  mkdirSync(join(dir, "d"));
  writeFileSync(join(dir, "d/new"), "new");
  await waitFor("new contents", () => r.db.getLocal("d/new")?.digest === digestOf("new"));
  await waitFor("old contents gone", () => r.db.getLocal("d/old")?.deleted === true);
  assert.deepEqual(
    r.db.livePaths().map((f) => f.path),
    ["d", "d/new"],
  );
  writeFileSync(join(dir, "d/later"), "later");
  await waitFor("the new directory is watched", () => r.db.getLocal("d/later") !== undefined);
});
