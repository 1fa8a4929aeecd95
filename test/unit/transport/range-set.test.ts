import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RangeSet } from "../../../src/transport/range-set.js";

type Op = { kind: "add" | "remove"; start: number; length: number };

const arbOp: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom("add" as const, "add" as const, "remove" as const),
  start: fc.integer({ min: 0, max: 60 }),
  length: fc.integer({ min: 0, max: 12 }),
});

/** Ranges as [start, end) pairs, for comparison with the model. */
function rangesOf(set: RangeSet): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < set.rangeCount; i++) out.push([set.rangeStart(i), set.rangeEnd(i)]);
  return out;
}

function rangesOfModel(model: Set<number>): [number, number][] {
  const sorted = [...model].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === x) last[1] = x + 1;
    else out.push([x, x + 1]);
  }
  return out;
}

test("RangeSet behaves like a set of integers with maximal ranges", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
      const set = new RangeSet();
      const model = new Set<number>();
      for (const op of ops) {
        const end = op.start + op.length;
        if (op.kind === "add") {
          let fresh = 0;
          for (let x = op.start; x < end; x++) if (!model.has(x)) fresh++;
          for (let x = op.start; x < end; x++) model.add(x);
          assert.equal(set.add(op.start, end), fresh);
        } else {
          for (let x = op.start; x < end; x++) model.delete(x);
          set.remove(op.start, end);
        }
        assert.deepEqual(rangesOf(set), rangesOfModel(model));
        assert.equal(set.covered, model.size);
      }
      for (let x = 0; x < 80; x++) assert.equal(set.has(x), model.has(x));
      for (let s = 0; s < 75; s += 3) {
        for (let e = s; e < s + 8; e++) {
          let all = true;
          for (let x = s; x < e; x++) all &&= model.has(x);
          assert.equal(set.covers(s, e), all, `covers(${s}, ${e})`);
          const gaps: number[] = [];
          set.forEachGap(s, e, (gs, ge) => {
            for (let x = gs; x < ge; x++) gaps.push(x);
          });
          const expected: number[] = [];
          for (let x = s; x < e; x++) if (!model.has(x)) expected.push(x);
          assert.deepEqual(gaps, expected);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("dropFirst forgets the lowest range and its count", () => {
  const set = new RangeSet();
  set.add(0, 3);
  set.add(5, 6);
  set.dropFirst();
  assert.deepEqual(rangesOf(set), [[5, 6]]);
  assert.equal(set.covered, 1);
});
