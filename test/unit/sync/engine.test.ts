import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { bumpVersion } from "../../../src/index/version.js";
import { initHasher } from "../../../src/pipeline/hash.js";
import { SyncEngine } from "../../../src/sync/engine.js";
import type { SyncIndex } from "../../../src/sync/ports.js";
import { MessageType } from "../../../src/sync/protocol.js";
import { memoryLogger } from "../../../src/util/log.js";
import { tree, treeDiff, waitFor } from "../../helpers/procs.js";
import { FakeFolder, linkedEndpoints } from "./fakes.js";
import { describeBytes, dir, fileDigest } from "./fixtures.js";

await initHasher();

interface Host {
  dir: string;
  db: IndexDb;
  folder: FakeFolder;
  engine: SyncEngine;
}

/**
 * `index` stands between the engine and the host's database (to make writes fail); the folder always
 * records into the real one.
 */
async function host(
  root: string,
  name: string,
  index: (db: IndexDb) => SyncIndex = (db) => db,
  log = memoryLogger(),
): Promise<Host> {
  const path = join(root, name);
  await mkdir(path, { recursive: true });
  const db = IndexDb.open(path);
  const folder = new FakeFolder(path, db);
  const engine = new SyncEngine({
    dir: path,
    db: index(db),
    folder,
    digestOf: fileDigest,
    log,
    budgetBytes: 64 * 1024,
    compress: "on",
    indexResyncMs: 100,
  });
  await engine.start();
  return { dir: path, db, folder, engine };
}

/** Writes a file on `h` and records it the way the scanner would (a new local version). */
/**
 * Hosts A and B in `root`, attached to a linked pair of fake endpoints (`bIndex`, `bLog`: B's index view
 * and logger), closed and removed after the suite.
 */
async function linkedHosts(
  root: string,
  bIndex: (db: IndexDb) => SyncIndex = (db) => db,
  bLog = memoryLogger(),
): Promise<{ A: Host; B: Host; link: ReturnType<typeof linkedEndpoints> }> {
  const A = await host(root, "A");
  const B = await host(root, "B", bIndex, bLog);
  const link = linkedEndpoints(A.db.deviceId, B.db.deviceId);
  A.engine.attach(link.a);
  B.engine.attach(link.b);
  after(async () => {
    await A.engine.close();
    await B.engine.close();
    A.db.close();
    B.db.close();
    await rm(root, { recursive: true, force: true });
  });
  return { A, B, link };
}

async function edit(h: Host, path: string, data: Uint8Array): Promise<FileInfo> {
  await mkdir(join(h.dir, path, ".."), { recursive: true });
  await writeFile(join(h.dir, path), data);
  const st = await stat(join(h.dir, path));
  const prev = h.db.getLocal(path);
  const version = bumpVersion(prev?.version ?? {}, h.db.deviceId);
  return h.folder.recordLocal(
    describeBytes(path, data, version, {
      modifiedBy: h.db.deviceId,
      mtimeMs: st.mtimeMs,
      mode: st.mode & 0o7777,
    }),
  );
}

async function synced(a: Host, b: Host): Promise<void> {
  await waitFor(
    "identical trees and both in sync",
    async () => {
      const [ta, tb] = [await tree(a.dir, true), await tree(b.dir, true)];
      return treeDiff(ta, tb).length === 0 && a.engine.status().inSync && b.engine.status().inSync;
    },
    10_000,
    20,
  );
}

describe("SyncEngine over a linked pair of fake connections", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-engine-"));
  const { A, B, link } = await linkedHosts(root);

  const big = randomBytes(300_000);

  it("exchanges indexes on connect and pulls files, directories and multi-block files", async () => {
    await edit(A, "docs/a.txt", Buffer.from("hello\n"));
    await edit(A, "big.bin", big);
    await edit(A, "log.txt", Buffer.from("a compressible line of text\n".repeat(20_000)));
    await mkdir(join(A.dir, "empty"));
    await A.folder.recordLocal(dir("empty", { [A.db.deviceId]: 1 }, { modifiedBy: A.db.deviceId }));
    assert.equal(B.engine.status().inSync, false, "not in sync without a peer");
    link.connect();
    await synced(A, B);
    assert.deepEqual(B.db.getLocal("big.bin")?.version, A.db.getLocal("big.bin")?.version);
    assert.equal(B.engine.status().needed, 0);
  });

  it("announces later edits and reuses unchanged blocks", async () => {
    const changed = Buffer.from(big);
    changed.fill(9, 150_000, 151_000);
    await edit(A, "big.bin", changed);
    await synced(A, B);
    assert.deepEqual(await readFile(join(B.dir, "big.bin")), changed);
  });

  it("is not in sync while the local folder is still indexing changes", async () => {
    await synced(A, B);
    A.folder.indexing = true;
    assert.equal(A.engine.status().inSync, false);
    assert.equal(B.engine.status().inSync, true, "the peer cannot know about unindexed edits");
    A.folder.indexing = false;
    assert.equal(A.engine.status().inSync, true);
  });

  it("catches up on a deletion made while disconnected, by index delta", async () => {
    link.disconnect();
    await rm(join(A.dir, "docs/a.txt"));
    const prev = A.db.getLocal("docs/a.txt")!;
    await A.folder.recordLocal({
      ...prev,
      deleted: true,
      size: 0,
      blocks: [],
      digest: "",
      version: bumpVersion(prev.version, A.db.deviceId),
      modifiedBy: A.db.deviceId,
    });
    await edit(B, "from-b.txt", Buffer.from("B was here\n"));
    link.connect();
    await synced(A, B);
    await assert.rejects(stat(join(B.dir, "docs/a.txt")));
    assert.equal(await readFile(join(A.dir, "from-b.txt"), "utf8"), "B was here\n");
  });
});

describe("SyncEngine when the index cannot store a peer's announcements", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-engine-full-"));
  let failures = 2;
  const log = memoryLogger();
  /** SQLite's answer on a full disk, for the first `failures` INDEX messages. */
  const full = (db: IndexDb): SyncIndex =>
    Object.assign(Object.create(db) as IndexDb, {
      putRemote(device: string, files: FileInfo[]) {
        if (failures-- > 0)
          throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        return db.putRemote(device, files);
      },
    });
  const { A, B, link } = await linkedHosts(root, full, log);

  it("logs it, keeps running, and asks for the lost entries again until they are stored", async () => {
    await edit(A, "one.txt", Buffer.from("first\n"));
    await edit(A, "two.txt", Buffer.from("second\n"));
    link.connect();
    await synced(A, B);
    assert.equal(failures, -1, "both failed INDEX messages were answered again");
    const lines = log.records.filter((r) => r.event === "sync.index_write_failed");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!.message, /disk full \(SQLITE_FULL\); will ask again/);
    assert.equal(await readFile(join(B.dir, "two.txt"), "utf8"), "second\n");
  });
});

describe("SyncEngine announcing edits of a big file as block deltas", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-engine-delta-"));
  const log = memoryLogger();
  const { A, B, link } = await linkedHosts(root, (db) => db, log);
  /** INDEX bytes received by each side. */
  const indexBytes = { a: 0, b: 0 };
  link.a.on("message", (_conn, msg) => {
    if (msg[0] === MessageType.Index) indexBytes.a += msg.byteLength;
  });
  link.b.on("message", (_conn, msg) => {
    if (msg[0] === MessageType.Index) indexBytes.b += msg.byteLength;
  });

  const data = randomBytes(1 << 20);
  const path = "big.bin";

  /** Both hold the same version, and each stored exactly the other's block list. */
  function sameLists(): void {
    const mine = A.db.getLocal(path)!;
    assert.deepEqual(B.db.getLocal(path)?.blocks, mine.blocks);
    assert.deepEqual(B.db.getRemote(A.db.deviceId, path)?.blocks, mine.blocks);
    assert.deepEqual(A.db.getRemote(B.db.deviceId, path)?.blocks, mine.blocks);
    assert.equal(A.db.getRemote(B.db.deviceId, path)?.digest, mine.digest);
  }

  it("sends both the edit and its echo as a few bytes of ops", async () => {
    await edit(A, path, data);
    link.connect();
    await synced(A, B);
    sameLists();
    const blocks = A.db.getLocal(path)!.blocks.length;
    assert.ok(blocks > 100, `${blocks} blocks`);
    const before = { ...indexBytes };
    data.fill(7, 500_000, 520_000);
    await edit(A, path, data);
    await synced(A, B);
    sameLists();
    assert.deepEqual(await readFile(join(B.dir, path)), data);
    // In full, each direction would carry 12 bytes per block.
    assert.ok(indexBytes.b - before.b < 1000, `A → B: ${indexBytes.b - before.b} bytes`);
    assert.ok(indexBytes.a - before.a < 500, `B → A: ${indexBytes.a - before.a} bytes`);
    assert.equal(log.records.filter((r) => r.event === "sync.delta_unresolved").length, 0);
  });

  it("asks for full lists when a delta names a version it no longer has, and converges", async () => {
    // B records the same bytes again (as after a rechunk) and has not announced it yet: A's next delta
    // names B's previous entry.
    const { sequence: _, ...entry } = B.db.getLocal(path)!;
    B.db.putLocal(entry, B.db.getStat(path) ?? null);
    data.fill(8, 100_000, 110_000);
    await edit(A, path, data);
    await synced(A, B);
    sameLists();
    assert.deepEqual(await readFile(join(B.dir, path)), data);
    const lines = log.records.filter((r) => r.event === "sync.delta_unresolved");
    assert.equal(lines.length, 1);
    assert.match(lines[0]!.message, /asking for full block lists/);
    assert.equal(B.engine.status().needed, 0);
  });
});
