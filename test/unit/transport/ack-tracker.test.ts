import assert from "node:assert/strict";
import { test } from "node:test";
import { ACK_THRESHOLD, AckTracker } from "../../../src/transport/ack-tracker.js";

test("ACK_THRESHOLD in-order packets make an ACK due at once; fewer wait for the delay", () => {
  const t = new AckTracker(1);
  t.onPacket(0, true, 10);
  assert.equal(t.ackDue, false);
  assert.equal(t.ackDeadline, 11);
  t.onTimer(10.5);
  assert.equal(t.ackDue, false);
  t.onTimer(11);
  assert.equal(t.ackDue, true);
  t.buildFrame(11);
  for (let pn = 1; pn < ACK_THRESHOLD; pn++) t.onPacket(pn, true, 12);
  assert.equal(t.ackDue, false);
  assert.equal(t.ackDeadline, 13);
  t.onPacket(ACK_THRESHOLD, true, 12.5);
  assert.equal(t.ackDue, true);
});

test("an out-of-order packet makes an ACK due immediately", () => {
  const t = new AckTracker(1);
  t.onPacket(0, true, 0);
  t.buildFrame(0);
  t.onPacket(2, true, 1);
  assert.equal(t.ackDue, true);
});

test("ACK-only packets are recorded but never trigger an ACK", () => {
  const t = new AckTracker(1);
  t.onPacket(0, false, 0);
  t.onPacket(5, false, 0);
  assert.equal(t.ackDue, false);
  assert.equal(t.hasUnacked, false);
  assert.equal(t.ackDeadline, Number.POSITIVE_INFINITY);
  assert.ok(t.isDuplicate(5));
});

test("the frame lists the newest ranges first, with the ACK delay of the largest", () => {
  const t = new AckTracker(1);
  for (const pn of [0, 1, 2, 4, 5, 9]) t.onPacket(pn, true, pn === 9 ? 100 : 0);
  const frame = t.buildFrame(100.25);
  assert.ok(frame);
  assert.deepEqual(frame.ranges, [
    { smallest: 9, largest: 9 },
    { smallest: 4, largest: 5 },
    { smallest: 0, largest: 2 },
  ]);
  assert.equal(frame.delayMicros, 250);
  assert.equal(t.ackDue, false);
  assert.equal(t.hasUnacked, false);
});

test("duplicates are recognised and the range count stays bounded", () => {
  const t = new AckTracker(1);
  // Every other packet: one range per packet received.
  for (let pn = 0; pn < 1000; pn += 2) t.onPacket(pn, true, 0);
  assert.ok(t.isDuplicate(998));
  assert.ok(!t.isDuplicate(999));
  // Old holes are forgotten: a packet below the floor counts as a duplicate.
  assert.ok(t.isDuplicate(1));
  const frame = t.buildFrame(0);
  assert.ok(frame);
  assert.equal(frame.ranges.length, 32);
  assert.equal(frame.ranges[0]!.largest, 998);
});
