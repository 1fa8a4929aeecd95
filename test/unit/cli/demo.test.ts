/** Unit tests of the demo's parts (src/demo); the whole demo runs in test/integration/demo.test.ts. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Narrator } from "../../../src/demo/narrator.js";
import type { DemoPeer } from "../../../src/demo/peers.js";
import { listTree, sameTree, treeBytes, treeDiff, treeDigest } from "../../../src/demo/trees.js";
import { type DemoView, type PeerProgress, PlainView } from "../../../src/demo/view.js";

function collectingView(): DemoView & { lines: string[] } {
  const lines: string[] = [];
  return {
    live: false,
    lines,
    say: (t) => lines.push(t),
    progress: () => undefined,
    endProgress: () => undefined,
  };
}

describe("demo: trees", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-demo-trees-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("lists entries except .left, hashes files, and tells identical folders from different ones", async () => {
    for (const name of ["x", "y"]) {
      await mkdir(join(root, name, "sub", "empty"), { recursive: true });
      await mkdir(join(root, name, ".left"), { recursive: true });
      await writeFile(join(root, name, ".left", "state"), name);
      await writeFile(join(root, name, "sub", "f.txt"), "same");
    }
    const x = await listTree(join(root, "x"), true);
    const y = await listTree(join(root, "y"), true);
    assert.deepEqual([...x.keys()], ["sub", "sub/empty", "sub/f.txt"]);
    assert.match(x.get("sub/f.txt")!, /^file 4 [0-9a-f]{64}$/);
    assert.ok(sameTree(x, y));
    assert.equal(treeDigest(x), treeDigest(y));
    assert.equal(treeBytes(x), 4);

    await writeFile(join(root, "y", "sub", "f.txt"), "diff");
    const changed = await listTree(join(root, "y"), true);
    assert.ok(!sameTree(x, changed));
    assert.notEqual(treeDigest(x), treeDigest(changed));
    assert.equal(treeDiff(x, changed).length, 1);
    assert.ok(sameTree(await listTree(join(root, "x"), false), await listTree(join(root, "y"), false)));
  });
});

describe("demo: narration", () => {
  const peer = { name: "b" } as DemoPeer;

  it("names peers by address or device id, and holds file lines back while bars are drawn", () => {
    const view = collectingView();
    const n = new Narrator(view);
    n.learn("a", "127.0.0.2:22001");
    n.learn("a", "12345678".repeat(4));
    n.onEvent(peer, { level: "info", event: "peer.up", message: "", fields: { peer: "127.0.0.2:22001" } });
    const synced = { path: "x/y.txt", type: "file", size: 2048, from: "12345678" };
    n.onEvent(peer, { level: "info", event: "file.synced", message: "", fields: synced });
    n.fileEvents = false;
    n.onEvent(peer, { level: "info", event: "file.synced", message: "", fields: synced });
    n.onEvent(peer, {
      level: "warn",
      event: "pull.io_error",
      message: "cannot write",
      fields: { path: "z" },
    });
    n.onEvent(peer, { level: "debug", event: "file.local", message: "", fields: {} });
    assert.deepEqual(view.lines, [
      "  b  connected to a",
      "  b  ← x/y.txt (2.0 KiB, from a)",
      "  b  WARN cannot write: z",
    ]);
  });
});

describe("demo: plain progress", () => {
  it("prints a peer's line at most once per interval, and its completion at once", () => {
    const out: string[] = [];
    const view = new PlainView((t) => out.push(t), 60_000);
    const row = (bytes: number, done = false): PeerProgress => ({
      name: "b",
      bytes,
      total: 100,
      bytesPerSec: 10,
      etaSec: 1,
      pending: 1,
      done,
    });
    view.progress([row(10)]);
    view.progress([row(20)]);
    view.progress([row(100, true)]);
    assert.equal(out.length, 2);
    assert.match(out[0]!, /^ {2}b {3}10% {2}10 B\/100 B/);
    assert.match(out[1]!, /100%.*complete/);
  });
});
