/**
 * LocalFolder.busy(), which keeps status.json's inSync false while local changes are still on their way
 * into the index (scan, hashing, settling). Hashing is gated so each state can be observed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { BlockPool } from "../../../src/pipeline/pool.js";
import { type ChunkParams, chunkParams, type HashedFile } from "../../../src/pipeline/types.js";
import { type FileHasher, LocalFolder } from "../../../src/scanner/local-folder.js";
import { memoryLogger } from "../../../src/util/log.js";
import { waitFor } from "../../helpers/procs.js";

const chunk = chunkParams(4096);
let pool: BlockPool;
let root: string;

before(async () => {
  pool = await BlockPool.open({ threads: 1 });
  root = mkdtempSync(join(tmpdir(), "left-busy-"));
});

after(async () => {
  await pool.close();
  rmSync(root, { recursive: true, force: true });
});

/** Hashes only when let through: `started` counts calls, `open()` releases every waiting and later call. */
class GatedHasher implements FileHasher {
  started = 0;
  /** Runs after a hash, before LocalFolder re-checks the file (to change it under the hash). */
  onHashed: ((absPath: string) => void) | undefined;
  private gate: Promise<void>;
  private release: () => void = () => undefined;

  constructor() {
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  open(): void {
    this.release();
  }

  close(): void {
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  async hashFile(absPath: string, params: ChunkParams, signal?: AbortSignal): Promise<HashedFile> {
    this.started++;
    await this.gate;
    const hashed = await pool.hashFile(absPath, params, signal);
    this.onHashed?.(absPath);
    return hashed;
  }
}

function folderOver(t: TestContext, name: string, hasher: FileHasher) {
  const dir = join(root, name);
  const db = IndexDb.open(dir);
  const folder = LocalFolder.open({
    dir,
    db,
    pool: hasher,
    chunk,
    log: memoryLogger(),
    debounceMs: 20,
    settleMs: 300,
  });
  const changed: FileInfo[] = [];
  folder.on("changed", (files) => changed.push(...files));
  t.after(async () => {
    await folder.close();
    db.close();
  });
  return { dir, db, folder, changed };
}

test("busy from start until the first scan's files are hashed and recorded, and again for a new file", async (t) => {
  const hasher = new GatedHasher();
  const { dir, folder, changed } = folderOver(t, "scan", hasher);
  writeFileSync(join(dir, "f"), "first");
  assert.equal(folder.busy(), false, "not started: nothing under way");
  folder.start();
  assert.equal(folder.busy(), true, "the first full scan is due");
  await waitFor("hashing of f", () => hasher.started === 1, 5000, 10);
  assert.equal(folder.busy(), true, "f is being hashed");
  hasher.open();
  await waitFor("f recorded", () => changed.some((f) => f.path === "f"), 5000, 10);
  await waitFor("idle", () => !folder.busy(), 5000, 10);

  hasher.close();
  writeFileSync(join(dir, "g"), "second");
  await waitFor("hashing of g", () => hasher.started === 2, 5000, 10);
  assert.equal(folder.busy(), true, "g is being hashed");
  assert.equal(
    changed.some((f) => f.path === "g"),
    false,
  );
  hasher.open();
  await waitFor("g recorded", () => changed.some((f) => f.path === "g"), 5000, 10);
  await waitFor("idle again", () => !folder.busy(), 5000, 10);
});

test("busy while a file that changed during its hash settles", async (t) => {
  const hasher = new GatedHasher();
  hasher.open();
  const { dir, folder, changed } = folderOver(t, "settle", hasher);
  writeFileSync(join(dir, "f"), "v1");
  folder.start();
  await waitFor("first scan recorded", () => changed.length === 1 && !folder.busy(), 5000, 10);
  let rewrites = 0;
  hasher.onHashed = (abs) => {
    // Once: the hash that just finished describes bytes that are no longer there.
    if (rewrites++ === 0) writeFileSync(abs, "v3, written while v2 was hashed");
  };
  writeFileSync(join(dir, "f"), "v2");
  await waitFor("the hash outran by a write", () => rewrites === 1, 5000, 5);
  const idleAfter = await waitFor("idle", () => !folder.busy(), 5000, 5);
  assert.ok(idleAfter >= 150, `busy for ${idleAfter.toFixed(0)} ms, expected the settle time`);
  assert.equal(changed.at(-1)?.path, "f");
  assert.equal(changed.at(-1)?.size, "v3, written while v2 was hashed".length);
});
