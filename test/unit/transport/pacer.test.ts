import assert from "node:assert/strict";
import { test } from "node:test";
import { Pacer } from "../../../src/transport/pacer.js";

test("tokens refill at the rate, capped at the burst", () => {
  const pacer = new Pacer(2, 1000, 0);
  // 1000 bytes/ms: the bucket holds 2 ms = 2000 bytes, starts with the minimum burst.
  assert.equal(pacer.canSend(0, 1000), true);
  pacer.onSent(1500);
  assert.equal(pacer.canSend(0, 1000), false);
  assert.equal(pacer.delayUntilSend(0, 1000), 0.501);
  assert.equal(pacer.canSend(0.6, 1000), true);
  // A long idle period does not bank more than the burst.
  pacer.onSent(100);
  assert.equal(pacer.canSend(100, 1000), true);
  pacer.onSent(2000);
  assert.equal(pacer.canSend(100, 1000), false);
});

test("a packet may overdraw the bucket: the debt delays the next one", () => {
  const pacer = new Pacer(1, 100, 0);
  assert.equal(pacer.canSend(0, 10), true);
  pacer.onSent(1000);
  assert.ok(pacer.delayUntilSend(0, 10) > 90);
});
