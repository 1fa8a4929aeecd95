import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { NeedTracker } from "../../../src/sync/tracker.js";
import { FakeClock } from "../../../src/util/clock.js";
import { DEV_B, digestOf, dir, file, tombstone } from "./fixtures.js";

describe("NeedTracker", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-tracker-"));
  after(() => rm(root, { recursive: true, force: true }));
  let n = 0;

  async function setup(hasSource = true) {
    const db = IndexDb.open(join(root, String(n++)));
    const clock = new FakeClock();
    let sources = hasSource;
    let ready = 0;
    const tracker = new NeedTracker(
      db,
      clock,
      () => sources,
      () => ready++,
    );
    const announce = (files: FileInfo[]) => {
      db.putRemote(DEV_B, files);
      tracker.addDevice(DEV_B);
      for (const f of files) tracker.evaluate(f.path);
    };
    return { db, clock, tracker, announce, setSources: (v: boolean) => (sources = v), ready: () => ready };
  }

  it("hands out creations parents-first, then deletions children-first", async () => {
    const { db, tracker, announce } = await setup();
    const me = db.deviceId;
    for (const p of ["old", "old/sub", "old/sub/f"]) db.putLocal(file(p, { [me]: 1 }), null);
    announce([
      tombstone("old", { [me]: 1, [DEV_B]: 1 }),
      tombstone("old/sub/f", { [me]: 1, [DEV_B]: 1 }),
      file("new/x", { [DEV_B]: 1 }),
      dir("new", { [DEV_B]: 1 }),
      tombstone("old/sub", { [me]: 1, [DEV_B]: 1 }),
    ]);
    const order: string[] = [];
    for (let t = tracker.take(); t; t = tracker.take()) order.push(`${t.need.op} ${t.need.target.path}`);
    assert.deepEqual(order, ["mkdir new", "pull new/x", "delete old/sub/f", "delete old/sub", "delete old"]);
  });

  it("parks pulls without a connected source until sources change", async () => {
    const { tracker, announce, setSources } = await setup(false);
    announce([file("f", { [DEV_B]: 1 })]);
    assert.equal(tracker.size, 1);
    assert.equal(tracker.actionable, 0);
    assert.equal(tracker.take(), undefined);
    setSources(true);
    tracker.sourcesChanged();
    assert.equal(tracker.take()?.need.target.path, "f");
  });

  it("retries failed attempts with a growing delay", async () => {
    const { clock, tracker, announce } = await setup();
    announce([file("f", { [DEV_B]: 1 })]);
    const first = tracker.take()!;
    tracker.retryLater(first);
    assert.equal(tracker.take(), undefined);
    clock.advance(1000);
    const second = tracker.take()!;
    assert.equal(second.attempts, 2);
    tracker.retryLater(second);
    clock.advance(1999);
    assert.equal(tracker.take(), undefined);
    clock.advance(1);
    assert.equal(tracker.take()?.attempts, 3);
  });

  it("defers a new decision about an active path until its attempt ends", async () => {
    const { db, tracker, announce } = await setup();
    announce([file("f", { [DEV_B]: 1 })]);
    const active = tracker.take()!;
    announce([file("f", { [DEV_B]: 2 })]);
    assert.equal(tracker.get("f"), active);
    assert.equal(active.dirty, true);
    db.putLocal(file("f", { [DEV_B]: 1 }), null);
    tracker.finished(active);
    assert.deepEqual(tracker.take()?.need.target.version, { [DEV_B]: 2 });
  });

  it("keeps needs without block lists and reads them from the index when work starts", async () => {
    const { db, tracker, announce } = await setup();
    const me = db.deviceId;
    const blocks = (n: number, seed: string) =>
      Array.from({ length: n }, (_, i) => ({
        offset: i * 100,
        size: 100,
        hash: `${seed}${i}`.padStart(16, "0"),
      }));
    const theirs = file(
      "big",
      { [DEV_B]: 1 },
      { size: 100_000, blocks: blocks(1000, "b"), digest: digestOf("theirs") },
    );
    const mine = file("big", { [me]: 1 }, { size: 300, blocks: blocks(3, "a"), digest: digestOf("mine") });
    db.putLocal(mine, null);
    announce([{ ...theirs, mtimeMs: mine.mtimeMs + 1 }]);
    const t = tracker.take()!;
    assert.equal(t.need.loser?.path, "big", "a conflict: our copy loses");
    assert.deepEqual([t.need.target.blocks, t.need.loser?.blocks, t.base?.blocks], [[], [], []]);
    const full = tracker.withBlocks(t.need)!;
    assert.deepEqual(full.target.blocks, theirs.blocks);
    assert.deepEqual(full.loser?.blocks, mine.blocks);
    assert.deepEqual({ ...full.target, blocks: [] }, t.need.target, "nothing else changes");

    // The announcement or our entry changed meanwhile: the need is decided again instead.
    db.putRemote(DEV_B, [{ ...theirs, version: { [DEV_B]: 2 }, digest: digestOf("newer") }]);
    assert.equal(tracker.withBlocks(t.need), null);
    db.putRemote(DEV_B, [theirs]);
    assert.notEqual(tracker.withBlocks(t.need), null);
    db.putLocal({ ...mine, version: { [me]: 2 } }, null);
    assert.equal(tracker.withBlocks(t.need), null);
  });
});
