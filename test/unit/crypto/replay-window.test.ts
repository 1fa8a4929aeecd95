import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from "../../../src/crypto/replay-window.js";

/** Accepts and commits in one step, the way the transport uses the window after a packet opened. */
function receive(window: ReplayWindow, pn: number): boolean {
  if (!window.check(pn)) return false;
  window.commit(pn);
  return true;
}

describe("ReplayWindow", () => {
  it("accepts fresh packet numbers in any order and refuses duplicates", () => {
    const w = new ReplayWindow();
    for (const pn of [0, 2, 1, 5, 3, 4]) assert.equal(receive(w, pn), true, `pn ${pn}`);
    for (const pn of [0, 1, 2, 3, 4, 5]) assert.equal(w.check(pn), false, `replayed pn ${pn}`);
    assert.equal(w.check(6), true);
  });

  it("refuses packet numbers that fell out of the window, accepts the oldest one still inside", () => {
    const w = new ReplayWindow(64);
    assert.equal(receive(w, 100), true);
    assert.equal(w.check(36), false);
    assert.equal(w.check(37), true);
    assert.equal(receive(w, 37), true);
    assert.equal(w.check(37), false);
  });

  it("forgets old bits when it slides a lap or more", () => {
    const w = new ReplayWindow(32);
    assert.equal(receive(w, 3), true);
    assert.equal(receive(w, 36), true);
    // 35 was skipped over; it shares slot 3 with pn 3, one lap earlier.
    assert.equal(w.check(35), true);
    assert.equal(w.check(3), false);
    assert.equal(receive(w, 1000), true);
    assert.equal(w.check(999), true);
    assert.equal(w.check(1000), false);
  });

  it("does not change on check, and ignores commits of refused numbers", () => {
    const w = new ReplayWindow(32);
    assert.equal(w.check(10), true);
    assert.equal(w.check(10), true);
    w.commit(100);
    // 10 is out of the window; had it been recorded, it would occupy the slot of 74.
    w.commit(10);
    assert.equal(w.check(74), true);
  });

  it("refuses numbers that are not non-negative safe integers", () => {
    const w = new ReplayWindow();
    for (const pn of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
      assert.equal(w.check(pn), false);
    assert.equal(receive(w, 2 ** 53 - 1), true);
    assert.equal(w.check(2 ** 53 - 1), false);
    assert.equal(w.check(2 ** 53 - 2), true);
  });

  it("rejects sizes that are not positive multiples of 32", () => {
    for (const size of [0, 16, 33, 1.5]) assert.throws(() => new ReplayWindow(size), RangeError);
    assert.equal(new ReplayWindow().size, DEFAULT_REPLAY_WINDOW);
  });

  it("matches a set-based model on random arrival sequences", () => {
    const size = 64;
    fc.assert(
      // Offsets around the newest number: mostly reordering within the window, some jumps past it.
      fc.property(
        fc.array(fc.integer({ min: -size - 16, max: size + 16 }), { maxLength: 600 }),
        (offsets) => {
          const w = new ReplayWindow(size);
          const seen = new Set<number>();
          let highest = -1;
          for (const offset of offsets) {
            const pn = Math.max(0, highest + offset);
            const expected = !seen.has(pn) && pn > highest - size;
            assert.equal(receive(w, pn), expected, `pn ${pn} after highest ${highest}`);
            if (expected) {
              seen.add(pn);
              highest = Math.max(highest, pn);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
