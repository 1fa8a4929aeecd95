import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { FileInfo } from "../../../src/index/types.js";
import {
  type BlockOp,
  type DeltaBlock,
  type DeltaEntry,
  deltaAgainst,
  diffBlocks,
  resolveBlocks,
  resolveEntry,
} from "../../../src/sync/block-delta.js";
import { blockListBytes, encodeIndex, MAX_BLOCKS, MessageType } from "../../../src/sync/protocol.js";
import { block, isCanonical, withOffsets } from "./delta-fixtures.js";
import { DEV_A, DEV_B, decodeOk, digestOf, file, rejects, tombstone } from "./fixtures.js";

/** A live file entry with these blocks. */
function entry(blocks: readonly DeltaBlock[], over: Partial<FileInfo> = {}): FileInfo {
  const list = withOffsets(blocks);
  const last = list[list.length - 1];
  return file("big.bin", { [DEV_A]: 1 }, { size: last ? last.offset + last.size : 0, blocks: list, ...over });
}

const family = (n: number, seed: number) => Array.from({ length: n }, (_, i) => block(i, seed));

/** `ops` as a delta entry against a base of sequence 7 and digest "base". */
function deltaOf(ops: BlockOp[], over: Partial<FileInfo> = {}): DeltaEntry {
  const { blocks: _, ...rest } = entry([block(0)], over);
  return { ...rest, blocks: null, delta: { baseSequence: 7, baseDigest: digestOf("base"), ops } };
}

/** Blocks drawn from a few distinct ones, so that lists share blocks and repeat them. */
const listArb = fc.array(fc.nat(5), { maxLength: 40 }).map((ns) => ns.map((n) => block(n, 0, 100 + n)));

/** A base and a target made from it by a few splices, the way edits change a file's blocks. */
const editArb = fc
  .record({
    base: fc.array(fc.nat(1000), { minLength: 1, maxLength: 60 }),
    edits: fc.array(
      fc.record({ at: fc.nat(), drop: fc.nat(5), insert: fc.array(fc.nat(1000), { maxLength: 4 }) }),
      { maxLength: 4 },
    ),
  })
  .map(({ base, edits }) => {
    const target = [...base];
    for (const e of edits)
      target.splice(e.at % (target.length + 1), e.drop, ...e.insert.map((n) => n + 1000));
    return { base: base.map((n) => block(n)), target: target.map((n) => block(n)) };
  });

describe("block deltas", () => {
  it("resolve to the target list, with canonical ops, for any two lists", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(listArb, listArb),
          editArb.map((e) => [e.base, e.target] as const),
        ),
        ([base, target]) => {
          const ops = diffBlocks(base, target);
          assert.deepEqual(resolveBlocks(base, ops), withOffsets(target));
          assert.equal(ops.length === 0 || isCanonical(ops), true, JSON.stringify(ops));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("cross the wire unchanged and resolve against the receiver's entry", () => {
    fc.assert(
      fc.property(
        editArb.filter((e) => e.target.length > 0),
        ({ base, target }) => {
          const mine = entry(base, { sequence: 42, digest: digestOf("mine") });
          const theirs = entry(target, { version: { [DEV_B]: 3 }, digest: digestOf("theirs"), sequence: 9 });
          const delta = deltaAgainst(theirs, mine);
          const decoded = decodeOk(encodeIndex([delta], true));
          assert.equal(decoded.type, MessageType.Index);
          assert.deepEqual(decoded.files, [delta]);
          assert.deepEqual(resolveEntry(delta, mine), theirs);
        },
      ),
    );
  });

  it("cost bytes in proportion to what changed", () => {
    const base = family(8192, 1);
    const full = blockListBytes(entry(base));
    assert.equal(full, 4 + 8192 * 12);
    const size = (target: DeltaBlock[]) => blockListBytes(deltaAgainst(entry(target), entry(base)));
    // The echo of a pulled version: one copy.
    assert.deepEqual(diffBlocks(base, base), [{ op: "copy", start: 0, count: 8192 }]);
    assert.equal(size(base), 8 + 32 + 4 + 9);
    // 1 MiB overwritten in the middle: about 9 blocks of 128 KiB change.
    const mid = [...base.slice(0, 4000), ...family(9, 2), ...base.slice(4009)];
    assert.deepEqual(
      diffBlocks(base, mid).map((op) => op.op),
      ["copy", "literal", "copy"],
    );
    assert.equal(size(mid), 44 + 9 + 5 + 9 * 12 + 9);
    // Bytes inserted at the start change the first block.
    const insert = [block(0, 3), ...base.slice(1)];
    assert.equal(size(insert), 44 + 5 + 12 + 9);
    // A repeated block (zeros) stays one copy.
    const zeros = Array.from({ length: 100 }, () => block(0, 4));
    assert.deepEqual(diffBlocks(zeros, [block(1, 4), ...zeros]), [
      { op: "literal", blocks: [block(1, 4)] },
      { op: "copy", start: 0, count: 100 },
    ]);
  });

  it("resolve only against the very entry named as base, and only within it", () => {
    const base = family(32, 1);
    const mine = entry(base, { sequence: 7, digest: digestOf("base") });
    const ok = deltaOf([
      { op: "copy", start: 1, count: 31 },
      { op: "literal", blocks: [block(0, 9)] },
    ]);
    assert.deepEqual(resolveEntry(ok, mine)?.blocks, withOffsets([...base.slice(1), block(0, 9)]));
    assert.equal(resolveEntry(ok, undefined), null, "no local entry");
    assert.equal(resolveEntry(ok, { ...mine, sequence: 8 }), null, "same bytes, recorded again since");
    assert.equal(resolveEntry(ok, { ...mine, digest: digestOf("other") }), null, "other bytes");
    assert.equal(resolveEntry(ok, tombstone("big.bin", { [DEV_A]: 2 }, { sequence: 7 })), null, "deleted");
    assert.equal(resolveEntry(deltaOf([{ op: "copy", start: 31, count: 2 }]), mine), null, "beyond the base");
    assert.equal(resolveEntry(deltaOf([{ op: "copy", start: 0xffffffff, count: 1 }]), mine), null);
  });
});

describe("block deltas on the wire", () => {
  /** Bytes of an INDEX with one delta entry; its ops end 35 bytes before the message does. */
  const encoded = (ops: BlockOp[], over: Partial<FileInfo> = {}) =>
    Buffer.from(encodeIndex([deltaOf(ops, over)], true));
  const OPS_END = 1 + 32 + 2;

  it("rejects counts beyond the limits or the message before allocating", () => {
    const copy = encoded([{ op: "copy", start: 0, count: 1 }]);
    copy.writeUInt32BE(0xffffffff, copy.length - OPS_END - 4);
    rejects(copy, new RegExp(`delta of more than ${MAX_BLOCKS} blocks`));
    const literal = encoded([{ op: "literal", blocks: [block(0)] }]);
    const countAt = literal.length - OPS_END - 12 - 4;
    literal.writeUInt32BE(0xffffffff, countAt);
    rejects(literal, new RegExp(`delta of more than ${MAX_BLOCKS} blocks`));
    literal.writeUInt32BE(1_000_000, countAt);
    rejects(literal, /literal beyond message end/);
    const ops = encoded([{ op: "copy", start: 0, count: 1 }]);
    ops.writeUInt32BE(0xffffffff, ops.length - OPS_END - 9 - 4);
    rejects(ops, /ops beyond message end/);
    // The limit covers the blocks the deltas of all entries stand for together.
    const half = MAX_BLOCKS / 2;
    const a = encodeIndex([deltaOf([{ op: "copy", start: 0, count: half }])], true);
    const b = encodeIndex([deltaOf([{ op: "copy", start: 0, count: half + 1 }])], true);
    rejects(
      Buffer.concat([Uint8Array.of(MessageType.Index, 1, 0, 2), a.subarray(4), b.subarray(4)]),
      new RegExp(`delta of more than ${half} blocks`),
    );
    assert.throws(
      () => encodeIndex([deltaOf([{ op: "copy", start: 0, count: MAX_BLOCKS + 1 }])], true),
      RangeError,
    );
  });

  it("rejects non-canonical ops, unknown ops, and deltas on entries without data", () => {
    rejects(encoded([]), /delta without ops/);
    rejects(encoded([{ op: "copy", start: 3, count: 0 }]), /empty copy/);
    rejects(encoded([{ op: "literal", blocks: [] }]), /empty literal/);
    rejects(
      encoded([
        { op: "copy", start: 3, count: 2 },
        { op: "copy", start: 5, count: 1 },
      ]),
      /copy continues the previous copy/,
    );
    rejects(
      encoded([
        { op: "literal", blocks: [block(1)] },
        { op: "literal", blocks: [block(2)] },
      ]),
      /literal follows a literal/,
    );
    const kind = encoded([{ op: "copy", start: 0, count: 1 }]);
    kind[kind.length - OPS_END - 9] = 7;
    rejects(kind, /op kind 7/);
    const zeroSize = encoded([{ op: "literal", blocks: [{ size: 0, hash: "00".repeat(8) }] }]);
    rejects(zeroSize, /block size 0/);
    // Entry flags follow the path ("big.bin": 2 + 7 bytes) and the type, after the 4-byte header.
    const flagsAt = 4 + 9 + 1;
    const dead = encoded([{ op: "copy", start: 0, count: 1 }]);
    assert.equal(dead[flagsAt], 2);
    dead[flagsAt] = 3;
    rejects(dead, /block delta on a tombstone/);
    dead[flagsAt] = 4;
    rejects(dead, /entry flags 4/);
    const dir = encoded([{ op: "copy", start: 0, count: 1 }]);
    dir[flagsAt - 1] = 1;
    rejects(dir, /block delta on a dir/);
  });
});
