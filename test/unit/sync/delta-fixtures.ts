/**
 * Builders and fast-check arbitraries for block deltas (src/sync/block-delta.ts).
 */
import fc from "fast-check";
import type { BlockInfo } from "../../../src/index/types.js";
import type { AnnouncedEntry, BlockOp, DeltaBlock, DeltaEntry } from "../../../src/sync/block-delta.js";
import { fileInfoArb, hexArb } from "./fixtures.js";

/** Block lists with offsets, as an index stores them. */
export function withOffsets(blocks: readonly DeltaBlock[]): BlockInfo[] {
  let offset = 0;
  return blocks.map((b) => {
    const block = { offset, size: b.size, hash: b.hash };
    offset += b.size;
    return block;
  });
}

/** Block n of a family of distinct blocks (`seed` tells families apart). */
export function block(n: number, seed = 0, size = 4096): DeltaBlock {
  return { size, hash: (seed * 2 ** 32 + n).toString(16).padStart(16, "0") };
}

/** The rules the decoder enforces: no empty op, no literal after a literal, no copy continuing a copy. */
export function isCanonical(ops: readonly BlockOp[]): boolean {
  return (
    ops.length > 0 &&
    ops.every((op, i) => {
      const prev = ops[i - 1];
      if (op.op === "literal") return op.blocks.length > 0 && prev?.op !== "literal";
      return op.count > 0 && !(prev?.op === "copy" && prev.start + prev.count === op.start);
    })
  );
}

/** Makes generated ops canonical by merging the neighbours the rules forbid. */
function canonical(ops: readonly BlockOp[]): BlockOp[] {
  const out: BlockOp[] = [];
  for (const op of ops) {
    const prev = out[out.length - 1];
    if (op.op === "literal" && prev?.op === "literal") {
      out[out.length - 1] = { op: "literal", blocks: [...prev.blocks, ...op.blocks] };
    } else if (op.op === "copy" && prev?.op === "copy" && prev.start + prev.count === op.start) {
      out[out.length - 1] = { ...prev, count: prev.count + op.count };
    } else {
      out.push(op);
    }
  }
  return out;
}

const blockArb: fc.Arbitrary<DeltaBlock> = fc
  .tuple(fc.integer({ min: 1, max: 1 << 20 }), hexArb(8))
  .map(([size, hash]) => ({ size, hash }));

/** Any canonical op list the decoder must accept (whether it resolves is another matter). */
export const opsArb: fc.Arbitrary<BlockOp[]> = fc
  .array(
    fc.oneof(
      // Tuples mapped to objects: fc.record builds null-prototype objects, decoded ops are plain ones.
      fc
        .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 1000 }))
        .map(([start, count]): BlockOp => ({ op: "copy", start, count })),
      fc
        .array(blockArb, { minLength: 1, maxLength: 4 })
        .map((blocks): BlockOp => ({ op: "literal", blocks })),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map(canonical);

export const deltaEntryArb: fc.Arbitrary<DeltaEntry> = fc
  .record({
    f: fileInfoArb,
    baseSequence: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    baseDigest: hexArb(32),
    ops: opsArb,
  })
  .map(({ f, ...delta }) => {
    const { blocks: _, ...rest } = f;
    return { ...rest, type: "file" as const, deleted: false, blocks: null, delta };
  });

export const announcedArb: fc.Arbitrary<AnnouncedEntry> = fc.oneof(fileInfoArb, deltaEntryArb);
