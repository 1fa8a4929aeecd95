import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { blockKey, IndexDb, IndexVersionError } from "../../../src/index/db.js";
import { IndexCorruptError } from "../../../src/index/rows.js";
import type { BlockInfo, FileInfo, StatRecord } from "../../../src/index/types.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function share(): string {
  const d = mkdtempSync(join(tmpdir(), "left-db-"));
  dirs.push(d);
  return d;
}

function file(path: string, overrides: Partial<FileInfo> = {}): Omit<FileInfo, "sequence"> {
  return {
    path,
    type: "file",
    size: 10,
    mtimeMs: 1700000000123.456,
    mode: 0o644,
    deleted: false,
    version: { aa: 1 },
    modifiedBy: "aa",
    blocks: [
      { offset: 0, size: 4, hash: "0123456789abcdef" },
      { offset: 4, size: 6, hash: "fedcba9876543210" },
    ],
    digest: "d".repeat(64),
    target: "",
    ...overrides,
  };
}

function stat(path: string, ino: number): StatRecord {
  return { path, type: "file", size: 10, mtimeMs: 1700000000123.456, mode: 0o644, ino, target: "" };
}

test("open creates .left/index.db and a device id that persists", () => {
  const dir = share();
  const db = IndexDb.open(dir);
  const id = db.deviceId;
  assert.match(id, /^[0-9a-f]{32}$/);
  db.close();
  assert.ok(existsSync(join(dir, ".left", "index.db")));
  const again = IndexDb.open(dir);
  assert.equal(again.deviceId, id);
  again.close();
  const other = IndexDb.open(share());
  assert.notEqual(other.deviceId, id);
  other.close();
});

test("putLocal assigns increasing sequences and round-trips every field", () => {
  const db = IndexDb.open(share());
  assert.equal(db.localSequence(), 0);
  const a = db.putLocal(file("a"), stat("a", 7));
  const b = db.putLocal(file("dir/b", { version: { aa: 2, bb: 3 } }), null);
  assert.deepEqual([a.sequence, b.sequence], [1, 2]);
  assert.deepEqual(db.getLocal("a"), { ...file("a"), sequence: 1 });
  assert.deepEqual(db.getLocal("dir/b"), { ...file("dir/b", { version: { aa: 2, bb: 3 } }), sequence: 2 });
  assert.equal(db.getLocal("missing"), undefined);
  assert.deepEqual(db.getStat("a"), stat("a", 7));
  assert.equal(db.getStat("dir/b"), undefined);

  const a2 = db.putLocal(file("a", { deleted: true, blocks: [], digest: "", version: { aa: 3 } }), null);
  assert.equal(a2.sequence, 3);
  assert.deepEqual(
    db.localSince(1).map((f) => [f.path, f.sequence]),
    [
      ["dir/b", 2],
      ["a", 3],
    ],
  );
  assert.deepEqual(
    db.localFiles().map((f) => [f.path, f.deleted]),
    [
      ["a", true],
      ["dir/b", false],
    ],
  );
  assert.deepEqual(db.livePaths(), [{ path: "dir/b", sequence: 2 }]);
  db.putLocal(file("e"), null);
  db.putLocal(file("f"), null);
  assert.deepEqual(
    db.livePathsBefore(null, 2).map((f) => f.path),
    ["f", "e"],
  );
  assert.deepEqual(
    db.livePathsBefore("e", 2).map((f) => f.path),
    ["dir/b"],
  );
  assert.deepEqual(db.livePathsBefore("dir/b", 2), []);
  assert.equal(db.getStat("a"), undefined, "a tombstone has no stat");
  assert.equal(db.localSequence(), 5);
  db.close();
});

test("the sequence and entries survive reopening", () => {
  const dir = share();
  const db = IndexDb.open(dir);
  db.putLocal(file("x"), stat("x", 1));
  db.putLocal(file("y"), stat("y", 2));
  db.close();
  const again = IndexDb.open(dir);
  assert.equal(again.localSequence(), 2);
  assert.equal(again.putLocal(file("z"), null).sequence, 3);
  assert.deepEqual(again.getStat("y"), stat("y", 2));
  again.close();
});

test("updateStat changes the stat without a new sequence", () => {
  const db = IndexDb.open(share());
  db.putLocal(file("a"), stat("a", 1));
  db.updateStat("a", stat("a", 99));
  assert.deepEqual(db.getStat("a"), stat("a", 99));
  assert.equal(db.localSequence(), 1);
  assert.equal(db.getLocal("a")?.sequence, 1);
  db.close();
});

test("localUnder lists exactly the entries below a directory", () => {
  const db = IndexDb.open(share());
  for (const p of ["d", "d/a", "d/b/c", "d0", "d-x", "dd/e", "e"]) db.putLocal(file(p), null);
  assert.deepEqual(
    db.localUnder("d").map((f) => f.path),
    ["d/a", "d/b/c"],
  );
  db.close();
});

test("remote announcements are stored per device", () => {
  const db = IndexDb.open(share());
  db.putRemote("peer1", [
    { ...file("a"), sequence: 5 },
    { ...file("b", { digest: "e".repeat(64) }), sequence: 9 },
  ]);
  db.putRemote("peer2", [{ ...file("a"), sequence: 2 }]);
  db.putRemote("peer3", [{ ...file("a", { deleted: true }), sequence: 4 }]);
  assert.equal(db.remoteSequence("peer1"), 9);
  assert.equal(db.remoteSequence("nobody"), 0);
  assert.deepEqual(db.getRemote("peer1", "b"), { ...file("b", { digest: "e".repeat(64) }), sequence: 9 });
  assert.equal(db.getRemote("peer2", "b"), undefined);
  assert.deepEqual(
    db.remoteFiles("peer1").map((f) => f.path),
    ["a", "b"],
  );
  assert.deepEqual(db.devicesHaving("a", "d".repeat(64)), ["peer1", "peer2"]);
  assert.deepEqual(db.remoteDevices(), ["peer1", "peer2", "peer3"]);

  db.putRemote("peer1", [{ ...file("a", { digest: "f".repeat(64), version: { bb: 1 } }), sequence: 10 }]);
  assert.deepEqual(db.devicesHaving("a", "d".repeat(64)), ["peer2"]);
  assert.deepEqual(db.getRemote("peer1", "a")?.version, { bb: 1 });
  assert.equal(db.remoteSequence("peer1"), 10);
  db.close();
});

test("findBlock locates blocks of live local files only", () => {
  const db = IndexDb.open(share());
  db.putLocal(file("a"), null);
  assert.deepEqual(db.findBlock("fedcba9876543210", 6), { path: "a", offset: 4 });
  assert.equal(db.findBlock("fedcba9876543210", 5), undefined, "size must match too");
  db.putLocal(file("a", { blocks: [{ offset: 0, size: 10, hash: "1111111111111111" }] }), null);
  assert.equal(db.findBlock("fedcba9876543210", 6), undefined, "replaced block list");
  assert.deepEqual(db.findBlock("1111111111111111", 10), { path: "a", offset: 0 });
  db.putLocal(file("a", { deleted: true, blocks: [], digest: "" }), null);
  assert.equal(db.findBlock("1111111111111111", 10), undefined, "tombstone");
  db.close();
});

test("findBlocks answers what findBlock answers for each block, in one query", () => {
  const db = IndexDb.open(share());
  const shared = { size: 10, hash: "1111111111111111" };
  db.putLocal(
    file("b", {
      blocks: [
        { offset: 0, ...shared },
        { offset: 10, size: 6, hash: "fedcba9876543210" },
      ],
    }),
    null,
  );
  db.putLocal(
    file("a", {
      blocks: [
        { offset: 0, size: 5, hash: "3333333333333333" },
        { offset: 5, ...shared },
      ],
    }),
    null,
  );
  const asked = [
    shared,
    { size: 6, hash: "fedcba9876543210" },
    { size: 7, hash: "fedcba9876543210" },
    { size: 10, hash: "2222222222222222" },
  ];
  const found = db.findBlocks(asked);
  for (const b of asked) assert.deepEqual(found.get(blockKey(b.hash, b.size)), db.findBlock(b.hash, b.size));
  assert.equal(found.size, 2);
  assert.deepEqual(
    found.get(blockKey(shared.hash, shared.size)),
    { path: "a", offset: 5 },
    "first in key order",
  );
  assert.equal(db.findBlocks([]).size, 0);
  db.close();
});

test("partial downloads survive reopening; a new tmp name starts over", () => {
  const dir = share();
  const db = IndexDb.open(dir);
  const digest = "a".repeat(64);
  db.startPartial("big", digest, "tmp-1");
  db.markBlocksDone("big", digest, [0, 2, 5]);
  db.markBlocksDone("big", digest, [2, 7]);
  db.startPartial("other", digest, "tmp-2");
  db.close();

  const again = IndexDb.open(dir);
  assert.deepEqual(again.getPartial("big", digest), { tmpName: "tmp-1", done: new Set([0, 2, 5, 7]) });
  assert.deepEqual(again.partials(), [
    { path: "big", digest, tmpName: "tmp-1" },
    { path: "other", digest, tmpName: "tmp-2" },
  ]);
  again.startPartial("big", digest, "tmp-1");
  assert.equal(again.getPartial("big", digest)?.done.size, 4, "same tmp name resumes");
  again.startPartial("big", digest, "tmp-3");
  assert.deepEqual(again.getPartial("big", digest), { tmpName: "tmp-3", done: new Set() });
  again.dropPartial("big", digest);
  assert.equal(again.getPartial("big", digest), undefined);
  assert.equal(again.getPartial("other", "b".repeat(64)), undefined);
  again.close();
});

test("committed writes survive SIGKILL of the writing process", async () => {
  const dir = share();
  const dbModule = new URL("../../../src/index/db.js", import.meta.url).href;
  const script = `
    const { IndexDb } = await import(${JSON.stringify(dbModule)});
    const db = IndexDb.open(${JSON.stringify(dir)});
    for (let i = 0; i < 50; i++) db.putLocal({ path: "f" + i, type: "dir", size: 0, mtimeMs: 1, mode: 493,
      deleted: false, version: { x: 1 }, modifiedBy: "x", blocks: [], digest: "", target: "" }, null);
    db.startPartial("big", "d", "tmp");
    db.markBlocksDone("big", "d", [1, 2, 3]);
    process.kill(process.pid, "SIGKILL");`;
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "inherit" });
  const signal = await new Promise((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
  assert.equal(signal, "SIGKILL");
  const db = IndexDb.open(dir);
  assert.equal(db.localSequence(), 50);
  assert.equal(db.localFiles().length, 50);
  assert.deepEqual(db.getPartial("big", "d")?.done, new Set([1, 2, 3]));
  db.close();
});

test("batch commits many writes at once, and keeps none of them if it throws", () => {
  const db = IndexDb.open(share());
  db.batch(() => {
    db.putLocal(file("a"), null);
    assert.equal(db.getLocal("a")?.sequence, 1, "reads inside the batch see its writes");
    db.putLocal(file("b"), null);
  });
  assert.equal(db.localSequence(), 2);
  assert.throws(
    () =>
      db.batch(() => {
        db.putLocal(file("c"), null);
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.equal(db.getLocal("c"), undefined);
  assert.equal(db.localSequence(), 2);
  assert.equal(db.putLocal(file("d"), null).sequence, 3);
  db.close();
});

/** `count` blocks tiling a file, with distinct hashes. */
function tiled(count: number, size: number): BlockInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: i * size,
    size,
    hash: i.toString(16).padStart(16, "0"),
  }));
}

test("empty and large block lists round-trip through local and remote entries", () => {
  const db = IndexDb.open(share());
  const empty = file("empty", { size: 0, blocks: [] });
  const big = file("big", { size: 20000 * 65536, blocks: tiled(20000, 65536) });
  db.putLocal(empty, null);
  db.putLocal(big, null);
  db.putRemote("peer", [
    { ...empty, sequence: 1 },
    { ...big, sequence: 2 },
  ]);
  assert.deepEqual(db.getLocal("empty"), { ...empty, sequence: 1 });
  assert.deepEqual(db.getLocal("big"), { ...big, sequence: 2 });
  assert.deepEqual(db.getRemote("peer", "empty"), { ...empty, sequence: 1 });
  assert.deepEqual(db.getRemote("peer", "big"), { ...big, sequence: 2 });
  assert.deepEqual(db.findBlock(tiled(20000, 65536)[19999]!.hash, 65536), {
    path: "big",
    offset: 19999 * 65536,
  });
  db.close();
});

test("a block list the index cannot store exactly is refused, and nothing of it is kept", () => {
  const db = IndexDb.open(share());
  const gap = file("a", {
    blocks: [
      { offset: 0, size: 4, hash: "0123456789abcdef" },
      { offset: 5, size: 5, hash: "0123456789abcdef" },
    ],
  });
  assert.throws(() => db.putLocal(gap, null), RangeError);
  assert.throws(
    () =>
      db.putRemote("peer", [
        { ...file("b", { blocks: [{ offset: 0, size: 10, hash: "ABCDEF0123456789" }] }), sequence: 1 },
      ]),
    RangeError,
  );
  assert.equal(db.getLocal("a"), undefined);
  assert.equal(db.localSequence(), 0);
  assert.equal(db.getRemote("peer", "b"), undefined);
  db.close();
});

test("a malformed block list in the file is reported as IndexCorruptError", () => {
  const dir = share();
  const db = IndexDb.open(dir);
  db.putLocal(file("a"), null);
  db.putRemote("peer", [{ ...file("a"), sequence: 1 }]);
  db.close();
  const raw = new Database(join(dir, ".left", "index.db"));
  // One byte short of two entries: a truncated list.
  raw.prepare("UPDATE local SET blocks = substr(blocks, 1, 23)").run();
  raw.prepare("UPDATE remote SET blocks = x'0102'").run();
  raw.close();

  const again = IndexDb.open(dir);
  assert.throws(() => again.getLocal("a"), IndexCorruptError);
  assert.throws(() => again.localFiles(), IndexCorruptError);
  assert.throws(() => again.getRemote("peer", "a"), IndexCorruptError);
  assert.throws(() => again.remoteFiles("peer"), IndexCorruptError);
  assert.throws(() => again.putLocal(file("a"), null), IndexCorruptError, "replacing needs the old list");
  assert.equal(again.localFileDigest("a"), "d".repeat(64), "reads that skip the list still work");
  again.close();
});

test("an index.db of another schema version is refused and left as it was", () => {
  const dir = share();
  IndexDb.open(dir).close();
  const path = join(dir, ".left", "index.db");
  const raw = new Database(path);
  raw.pragma("user_version = 1");
  raw.close();
  assert.throws(() => IndexDb.open(dir), IndexVersionError);
  const after = new Database(path);
  assert.equal(after.pragma("user_version", { simple: true }), 1);
  after.close();
});
