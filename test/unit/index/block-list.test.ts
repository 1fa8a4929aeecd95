import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BLOCK_ENTRY_BYTES, decodeBlockList, encodeBlockList } from "../../../src/index/block-list.js";
import type { BlockInfo } from "../../../src/index/types.js";

const hashArb = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString("hex"));

/** Block lists as the index gets them: tiling from 0, any u32 size, lowercase hex hashes. */
const blockListArb = (maxLength: number) =>
  fc.array(fc.record({ size: fc.nat({ max: 0xffffffff }), hash: hashArb }), { maxLength }).map((specs) => {
    let offset = 0;
    return specs.map(({ size, hash }): BlockInfo => {
      const block = { offset, size, hash };
      offset += size;
      return block;
    });
  });

test("block lists of any length round-trip, 12 bytes a block", () => {
  fc.assert(
    fc.property(fc.oneof(blockListArb(0), blockListArb(5), blockListArb(3000)), (blocks) => {
      const blob = encodeBlockList(blocks);
      assert.equal(blob.length, blocks.length * BLOCK_ENTRY_BYTES);
      assert.deepEqual(decodeBlockList(blob), blocks);
    }),
    { numRuns: 200 },
  );
});

test("the layout is a little-endian u32 size, then the hash's 8 bytes", () => {
  const blob = encodeBlockList([
    { offset: 0, size: 0x01020304, hash: "0123456789abcdef" },
    { offset: 0x01020304, size: 0xffffffff, hash: "ffeeddccbbaa9988" },
  ]);
  assert.equal(blob.toString("hex"), "040302010123456789abcdefffffffffffeeddccbbaa9988");
});

test("any blob of whole entries decodes, and encodes back to the same bytes", () => {
  const wholeEntries = fc
    .nat({ max: 400 })
    .chain((count) => fc.uint8Array({ minLength: count * 12, maxLength: count * 12 }));
  fc.assert(
    fc.property(wholeEntries, (bytes) => {
      const blocks = decodeBlockList(bytes);
      assert.ok(blocks !== null);
      assert.equal(blocks.length, bytes.length / BLOCK_ENTRY_BYTES);
      assert.deepEqual(encodeBlockList(blocks), Buffer.from(bytes));
    }),
    { numRuns: 100 },
  );
});

test("a blob that is not a whole number of entries decodes to null", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }).filter((b) => b.length % BLOCK_ENTRY_BYTES !== 0),
      (bytes) => assert.equal(decodeBlockList(bytes), null),
    ),
  );
});

test("encoding refuses what would not read back the same", () => {
  const ok: BlockInfo = { offset: 0, size: 10, hash: "0123456789abcdef" };
  const refused: [string, BlockInfo[]][] = [
    ["first block not at 0", [{ ...ok, offset: 1 }]],
    ["gap", [ok, { ...ok, offset: 11 }]],
    ["overlap", [ok, { ...ok, offset: 9 }]],
    ["negative size", [{ ...ok, size: -1 }]],
    ["fractional size", [{ ...ok, size: 1.5 }]],
    ["size beyond u32", [{ ...ok, size: 2 ** 32 }]],
    ["NaN size", [{ ...ok, size: Number.NaN }]],
    ["uppercase hash", [{ ...ok, hash: "0123456789ABCDEF" }]],
    ["short hash", [{ ...ok, hash: "0123456789abcde" }]],
    ["long hash", [{ ...ok, hash: "0123456789abcdef0" }]],
    ["non-hex hash", [{ ...ok, hash: "0123456789abcdeg" }]],
    ["non-ASCII hash", [{ ...ok, hash: "0123456789abcde\u0130" }]],
    ["digit plus 0x80", [{ ...ok, hash: "0123456789abcde\u00b0" }]],
  ];
  for (const [what, blocks] of refused) {
    assert.throws(() => encodeBlockList(blocks), RangeError, what);
  }
});
