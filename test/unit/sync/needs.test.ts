import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { FileInfo } from "../../../src/index/types.js";
import { compareVersions } from "../../../src/index/version.js";
import { decideNeed } from "../../../src/sync/needs.js";
import { DEV_A, DEV_B, DEV_C, digestOf, dir, file, tombstone } from "./fixtures.js";

const other = digestOf("other");

describe("decideNeed", () => {
  it("fetches what we do not have, ignores deletions of what we never had", () => {
    const r = file("f", { [DEV_B]: 1 });
    assert.deepEqual(decideNeed(undefined, [r]), { op: "pull", target: r, loser: null });
    assert.equal(decideNeed(undefined, [tombstone("f", { [DEV_B]: 2 })]), null);
    assert.equal(decideNeed(undefined, [dir("d", { [DEV_B]: 1 })])?.op, "mkdir");
    const link = file("l", { [DEV_B]: 1 }, { type: "symlink", target: "f", blocks: [], digest: "", size: 0 });
    assert.equal(decideNeed(undefined, [link])?.op, "symlink");
  });

  it("does nothing when the local version is equal or newer", () => {
    const local = file("f", { [DEV_A]: 2, [DEV_B]: 1 });
    assert.equal(decideNeed(local, [file("f", { [DEV_A]: 2, [DEV_B]: 1 })]), null);
    assert.equal(decideNeed(local, [file("f", { [DEV_A]: 1 }, { digest: other })]), null);
    assert.equal(decideNeed(local, []), null);
  });

  it("applies newer versions: pull, delete, or just adopt when the bytes are the same", () => {
    const local = file("f", { [DEV_A]: 1 });
    const changed = file("f", { [DEV_A]: 1, [DEV_B]: 2 }, { digest: other });
    assert.deepEqual(decideNeed(local, [changed]), { op: "pull", target: changed, loser: null });
    const chmodded = file("f", { [DEV_A]: 1, [DEV_B]: 2 }, { mode: 0o600 });
    assert.deepEqual(decideNeed(local, [chmodded]), { op: "adopt", target: chmodded, loser: null });
    const deleted = tombstone("f", { [DEV_A]: 1, [DEV_B]: 2 });
    assert.deepEqual(decideNeed(local, [deleted]), { op: "delete", target: deleted, loser: null });
    const gone = tombstone("f", { [DEV_A]: 1 });
    assert.equal(decideNeed(gone, [tombstone("f", { [DEV_A]: 1, [DEV_B]: 1 })])?.op, "adopt");
    assert.equal(decideNeed(gone, [file("f", { [DEV_A]: 1, [DEV_B]: 1 })])?.op, "pull");
  });

  it("resolves concurrent edits by mtime: the losing side keeps a conflict copy and merges versions", () => {
    const mine = file("f", { [DEV_A]: 1 }, { mtimeMs: 1000, modifiedBy: DEV_A });
    const theirs = file("f", { [DEV_B]: 1 }, { mtimeMs: 2000, modifiedBy: DEV_B, digest: other });
    const need = decideNeed(mine, [theirs]);
    assert.equal(need?.op, "pull");
    assert.equal(need?.loser, mine);
    assert.deepEqual(need?.target.version, { [DEV_A]: 1, [DEV_B]: 1 });
    assert.equal(need?.target.digest, other);
    // The winner's side does nothing; the loser's merged version will later dominate it.
    assert.equal(decideNeed(theirs, [mine]), null);
  });

  it("lets an edit win over a concurrent deletion, without a conflict copy", () => {
    const edit = file("f", { [DEV_A]: 2 });
    const deletion = tombstone("f", { [DEV_B]: 2 }, { mtimeMs: 9e12 });
    assert.equal(decideNeed(edit, [deletion]), null);
    const need = decideNeed(deletion, [edit]);
    assert.equal(need?.op, "pull");
    assert.equal(need?.loser, null);
    assert.deepEqual(need?.target.version, { [DEV_A]: 2, [DEV_B]: 2 });
  });

  it("merges concurrent versions of identical content without moving data", () => {
    const mine = dir("d", { [DEV_A]: 1 });
    const theirs = dir("d", { [DEV_B]: 1 }, { mtimeMs: 5 });
    const need = decideNeed(mine, [theirs]);
    assert.equal(need?.op, "adopt");
    assert.deepEqual(need?.target.version, { [DEV_A]: 1, [DEV_B]: 1 });
  });

  it("acts on a strictly newer announcement before a concurrent one, and on the dominating one", () => {
    const local = file("f", { [DEV_A]: 1 });
    const newer = file("f", { [DEV_A]: 1, [DEV_B]: 1 }, { digest: other, mtimeMs: 1 });
    const newest = file("f", { [DEV_A]: 1, [DEV_B]: 2 }, { digest: other, mtimeMs: 1 });
    const concurrent = file("f", { [DEV_C]: 9 }, { digest: digestOf("c"), mtimeMs: 9e12 });
    assert.equal(decideNeed(local, [concurrent, newer, newest])?.target, newest);
    assert.equal(decideNeed(local, [newest, newer, concurrent])?.target, newest);
  });

  it("converges: for two concurrent edits exactly one side changes, and its result dominates both", () => {
    const side = (device: string) =>
      fc
        .record({
          counter: fc.integer({ min: 1, max: 5 }),
          mtimeMs: fc.integer({ min: 0, max: 3 }),
          deleted: fc.boolean(),
          digest: fc.constantFrom(digestOf("x"), digestOf("y")),
        })
        .map(
          (s): FileInfo =>
            s.deleted
              ? tombstone("f", { [device]: s.counter }, { mtimeMs: s.mtimeMs, modifiedBy: device })
              : file(
                  "f",
                  { [device]: s.counter },
                  { mtimeMs: s.mtimeMs, modifiedBy: device, digest: s.digest },
                ),
        );
    fc.assert(
      fc.property(side(DEV_A), side(DEV_B), (a, b) => {
        const onA = decideNeed(a, [b]);
        const onB = decideNeed(b, [a]);
        for (const need of [onA, onB]) {
          if (need === null) continue;
          assert.equal(compareVersions(need.target.version, a.version), "greater");
          assert.equal(compareVersions(need.target.version, b.version), "greater");
        }
        const sameBytes = a.deleted === b.deleted && (a.deleted || a.digest === b.digest);
        if (sameBytes) {
          assert.equal(onA?.op, "adopt");
          assert.equal(onB?.op, "adopt");
          assert.deepEqual(onA?.target, onB?.target);
        } else {
          assert.equal((onA === null) !== (onB === null), true, "exactly one side applies the other's edit");
        }
      }),
    );
  });
});
