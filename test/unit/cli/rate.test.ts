import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eta, RateMeter } from "../../../src/cli/rate.js";

describe("RateMeter", () => {
  it("takes the first interval's rate as it is, then smooths towards new rates", () => {
    const m = new RateMeter(1000);
    assert.equal(m.sample(0, 0), 0, "one reading is no rate yet");
    assert.equal(m.sample(1000, 1000), 1000);
    // A stall of one half-life halves the rate instead of dropping it to 0.
    assert.equal(m.sample(1000, 2000), 500);
    assert.equal(m.perSecond, 500);
    // Back to 1000/s: half-way again.
    assert.equal(m.sample(2000, 3000), 750);
  });

  it("ignores readings that do not move forward in time and never goes negative", () => {
    const m = new RateMeter(1000);
    m.sample(0, 0);
    m.sample(500, 500);
    assert.equal(m.sample(10_000, 500), 1000, "same instant: unchanged");
    assert.ok(m.sample(0, 1500) >= 0, "a counter that went back (restart) is not a negative rate");
  });

  it("eta: seconds left, 0 when done, null when nothing moves", () => {
    assert.equal(eta(1000, 250), 4);
    assert.equal(eta(0, 0), 0);
    assert.equal(eta(10, 0), null);
  });
});
