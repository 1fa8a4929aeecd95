import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { conflictName, winsConflict } from "../../../src/sync/conflicts.js";
import { DEV_A, DEV_B, digestOf, file, fileInfoArb } from "./fixtures.js";

// 2024-03-05 06:07:08.900 UTC
const MTIME = Date.UTC(2024, 2, 5, 6, 7, 8, 900);

describe("conflictName", () => {
  it("inserts the marker before the extension, Syncthing style", () => {
    const loser = { mtimeMs: MTIME, modifiedBy: "0123456789abcdef0123456789abcdef" };
    assert.equal(
      conflictName("docs/report.txt", loser),
      "docs/report.sync-conflict-20240305-060708-0123456.txt",
    );
    assert.equal(conflictName("a.tar.gz", loser), "a.tar.sync-conflict-20240305-060708-0123456.gz");
    assert.equal(conflictName("Makefile", loser), "Makefile.sync-conflict-20240305-060708-0123456");
    assert.equal(conflictName("d/.bashrc", loser), "d/.bashrc.sync-conflict-20240305-060708-0123456");
    assert.equal(conflictName("x.txt", loser, 3), "x.sync-conflict-20240305-060708-0123456-3.txt");
  });
});

describe("winsConflict", () => {
  it("prefers the later mtime, then the greater device id", () => {
    const older = file("f", { [DEV_B]: 1 }, { mtimeMs: 1000, modifiedBy: DEV_B });
    const newer = file("f", { [DEV_A]: 1 }, { mtimeMs: 2000, modifiedBy: DEV_A });
    assert.equal(winsConflict(newer, older), true);
    assert.equal(winsConflict(older, newer), false);
    const tieA = file("f", { [DEV_A]: 1 }, { modifiedBy: DEV_A });
    const tieB = file("f", { [DEV_B]: 1 }, { modifiedBy: DEV_B, digest: digestOf("other") });
    assert.equal(winsConflict(tieB, tieA), true);
    assert.equal(winsConflict(tieA, tieB), false);
  });

  it("is a strict total order: exactly one of two different contenders wins", () => {
    fc.assert(
      fc.property(fileInfoArb, fileInfoArb, (a, b) => {
        const same =
          a.mtimeMs === b.mtimeMs &&
          a.modifiedBy === b.modifiedBy &&
          a.digest === b.digest &&
          a.target === b.target;
        assert.equal(winsConflict(a, b) !== winsConflict(b, a), !same);
      }),
    );
  });
});
