import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import type { StatRecord } from "../../../src/index/types.js";
import { Scanner } from "../../../src/scanner/scanner.js";
import { memoryLogger } from "../../../src/util/log.js";
import { sleep, waitFor } from "./events.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function share(): string {
  const d = mkdtempSync(join(tmpdir(), "left-scan-"));
  dirs.push(d);
  return d;
}

/** A started scanner that records everything it reports; closed after the test. */
function observe(t: TestContext, dir: string, rescanIntervalMs = 60_000) {
  const scanner = new Scanner({ dir, rescanIntervalMs, log: memoryLogger() });
  t.after(() => scanner.close());
  const full: StatRecord[] = [];
  const watched: StatRecord[] = [];
  const walked: string[] = [];
  const gone: string[] = [];
  const errors: Error[] = [];
  let scans = 0;
  scanner.on("scanStart", () => {
    full.length = 0;
  });
  scanner.on("changes", (records, fullScan, w) => {
    (fullScan ? full : watched).push(...records);
    walked.push(...w);
  });
  scanner.on("gone", (paths) => gone.push(...paths));
  scanner.on("scanComplete", () => scans++);
  scanner.on("error", (e) => errors.push(e));
  scanner.start();
  const seen = (path: string, pred: (r: StatRecord) => boolean = () => true) =>
    watched.some((r) => r.path === path && pred(r));
  return { scanner, full, watched, walked, gone, errors, seen, scans: () => scans };
}

test("a full scan lists every entry once, with symlinks unfollowed and .left excluded", async (t) => {
  const dir = share();
  mkdirSync(join(dir, "a/b"), { recursive: true });
  mkdirSync(join(dir, ".left/tmp"), { recursive: true });
  writeFileSync(join(dir, ".left/tmp/x"), "x");
  writeFileSync(join(dir, "a/b/f"), "12345");
  writeFileSync(join(dir, "top"), "");
  symlinkSync("a/b", join(dir, "link"));
  const o = observe(t, dir);
  await waitFor("full scan", () => o.scans() === 1);
  const byPath = new Map(o.full.map((r) => [r.path, r]));
  assert.deepEqual([...byPath.keys()].sort(), ["a", "a/b", "a/b/f", "link", "top"]);
  assert.equal(o.full.length, 5);
  assert.equal(byPath.get("a/b/f")?.size, 5);
  assert.equal(byPath.get("a/b/f")?.type, "file");
  assert.equal(byPath.get("a")?.type, "dir");
  assert.deepEqual([byPath.get("link")?.type, byPath.get("link")?.target], ["symlink", "a/b"]);
  await o.scanner.close();
  assert.deepEqual(o.errors, []);
});

test("create, modify, mkdir, symlink and delete are reported within 1 s", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "old"), "old");
  const o = observe(t, dir);
  await waitFor("full scan", () => o.scans() === 1);

  writeFileSync(join(dir, "new"), "hello");
  await waitFor("create", () => o.seen("new", (r) => r.size === 5));
  writeFileSync(join(dir, "new"), "hello world");
  await waitFor("modify", () => o.seen("new", (r) => r.size === 11));
  mkdirSync(join(dir, "d"));
  await waitFor("mkdir", () => o.seen("d", (r) => r.type === "dir"));
  writeFileSync(join(dir, "d/inner"), "i");
  await waitFor("file in a new directory", () => o.seen("d/inner"));
  symlinkSync("../old", join(dir, "d/ln"));
  await waitFor("symlink", () => o.seen("d/ln", (r) => r.type === "symlink" && r.target === "../old"));
  rmSync(join(dir, "old"));
  await waitFor("delete", () => o.gone.includes("old"));
  rmSync(join(dir, "d"), { recursive: true });
  await waitFor("directory delete", () => o.gone.includes("d"));
  await o.scanner.close();
  assert.deepEqual(o.errors, []);
});

test("a directory tree moved in is walked whole and marked as complete", async (t) => {
  const dir = share();
  const outside = share();
  mkdirSync(join(outside, "tree/sub"), { recursive: true });
  writeFileSync(join(outside, "tree/sub/f"), "f");
  const o = observe(t, dir);
  await waitFor("full scan", () => o.scans() === 1);
  renameSync(join(outside, "tree"), join(dir, "tree"));
  await waitFor("moved tree", () => o.seen("tree/sub/f"));
  assert.ok(o.walked.includes("tree"));
  assert.ok(o.seen("tree/sub", (r) => r.type === "dir"));
  writeFileSync(join(dir, "tree/sub/g"), "g");
  await waitFor("file below the moved tree (now watched)", () => o.seen("tree/sub/g"));
  await o.scanner.close();
});

test("pause buffers watch events and resume delivers them", async (t) => {
  const dir = share();
  const o = observe(t, dir);
  await waitFor("full scan", () => o.scans() === 1);
  o.scanner.pause();
  await sleep(50);
  writeFileSync(join(dir, "while-paused"), "p");
  await sleep(400);
  assert.equal(o.seen("while-paused"), false, "nothing is reported while paused");
  o.scanner.resume();
  await waitFor("buffered event", () => o.seen("while-paused"));
  await o.scanner.close();
});

test("rescan runs another full scan; periodic rescans run by themselves", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "f"), "f");
  const o = observe(t, dir, 300);
  await waitFor("first scan", () => o.scans() === 1);
  await waitFor("periodic rescan", () => o.scans() === 2, 2000);
  o.scanner.rescan();
  await waitFor("forced rescan", () => o.scans() === 3);
  assert.deepEqual(
    o.full.map((r) => r.path),
    ["f"],
  );
  await o.scanner.close();
});

test("close during a long walk stops the worker promptly, and no event follows", async (t) => {
  const dir = share();
  for (let i = 0; i < 40; i++) {
    mkdirSync(join(dir, `d${i}`));
    for (let j = 0; j < 100; j++) writeFileSync(join(dir, `d${i}`, `f${j}`), "");
  }
  const o = observe(t, dir);
  await waitFor("scan under way", () => o.full.length > 0, 5000);
  const started = performance.now();
  await o.scanner.close();
  assert.ok(performance.now() - started < 1000, "closed promptly");
  const count = o.full.length + o.watched.length;
  writeFileSync(join(dir, "after-close"), "x");
  await sleep(300);
  assert.equal(o.full.length + o.watched.length, count);
  assert.deepEqual(o.errors, []);
  await o.scanner.close();
});

test("a scanner worker that dies is replaced, with a full scan and working watches", async (t) => {
  const dir = share();
  writeFileSync(join(dir, "f"), "f");
  const o = observe(t, dir);
  await waitFor("first scan", () => o.scans() === 1);
  const worker = (o.scanner as unknown as { worker: { terminate(): Promise<number> } }).worker;
  await worker.terminate();
  await waitFor("error reported", () => o.errors.length === 1);
  await waitFor("replacement's full scan", () => o.scans() === 2, 3000);
  assert.deepEqual(
    o.full.map((r) => r.path),
    ["f"],
  );
  writeFileSync(join(dir, "g"), "g");
  await waitFor("watch after restart", () => o.seen("g"));
});
