import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TransferWatch } from "../../../src/cli/transfers.js";
import { bigFile, FakeIndex } from "./fake-index.js";

const KiB = 1024;

describe("TransferWatch", () => {
  it("reports each download's verified bytes from its done blocks, with rate and ETA", () => {
    const db = new FakeIndex();
    db.announce(bigFile("big.bin", 10, 100 * KiB, "d1"));
    db.download("big.bin", "d1", [0, 1]);
    const watch = new TransferWatch(db);
    const [first] = watch.poll(0);
    assert.deepEqual(first && { path: first.path, size: first.size, done: first.done }, {
      path: "big.bin",
      size: 1000 * KiB,
      done: 200 * KiB,
    });
    db.download("big.bin", "d1", [0, 1, 2, 3, 4, 5]);
    const [second] = watch.poll(1000);
    assert.equal(second!.done, 600 * KiB);
    assert.equal(second!.bytesPerSec, 400 * KiB);
    assert.equal(second!.etaSec, 1);
  });

  it("lists the largest first and forgets finished downloads", () => {
    const db = new FakeIndex();
    db.announce(bigFile("small.bin", 2, KiB, "s"));
    db.announce(bigFile("large.bin", 5, KiB, "l"));
    db.download("small.bin", "s", []);
    db.download("large.bin", "l", [4]);
    const watch = new TransferWatch(db);
    assert.deepEqual(
      watch.poll(0).map((t) => [t.path, t.done]),
      [
        ["large.bin", KiB],
        ["small.bin", 0],
      ],
    );
    db.finish("large.bin", "l");
    assert.deepEqual(
      watch.poll(500).map((t) => t.path),
      ["small.bin"],
    );
  });

  it("skips a download whose version no peer announces (its block sizes are unknown)", () => {
    const db = new FakeIndex();
    db.announce(bigFile("a.bin", 4, KiB, "new"));
    db.download("a.bin", "old", [0]);
    assert.deepEqual(new TransferWatch(db).poll(0), []);
  });

  it("a stalled download has no ETA", () => {
    const db = new FakeIndex();
    db.announce(bigFile("a.bin", 4, KiB, "d"));
    db.download("a.bin", "d", [0]);
    const watch = new TransferWatch(db);
    watch.poll(0);
    const [t] = watch.poll(1000);
    assert.equal(t!.bytesPerSec, 0);
    assert.equal(t!.etaSec, null);
  });
});
