import assert from "node:assert/strict";
import { test } from "node:test";
import { RttEstimator } from "../../../src/transport/rtt.js";

const config = { initialRttMs: 100, minRtoMs: 20, maxRtoMs: 2000, granularityMs: 1 };

test("the first sample initialises SRTT and RTTVAR (RFC 6298 2.2)", () => {
  const rtt = new RttEstimator(config);
  assert.equal(rtt.smoothed, 100);
  rtt.update(40, 0);
  assert.equal(rtt.smoothed, 40);
  assert.equal(rtt.variation, 20);
  assert.equal(rtt.min, 40);
});

test("later samples are smoothed with alpha 1/8 and beta 1/4 (RFC 6298 2.3)", () => {
  const rtt = new RttEstimator(config);
  rtt.update(40, 0);
  rtt.update(80, 0);
  assert.equal(rtt.variation, 0.75 * 20 + 0.25 * 40);
  assert.equal(rtt.smoothed, 0.875 * 40 + 0.125 * 80);
});

test("ACK delay is subtracted only while the result stays above the minimum RTT", () => {
  const rtt = new RttEstimator(config);
  rtt.update(10, 0);
  rtt.update(12, 1);
  assert.equal(rtt.smoothed, 0.875 * 10 + 0.125 * 11);
  const before = rtt.smoothed;
  rtt.update(12, 5);
  assert.equal(rtt.smoothed, 0.875 * before + 0.125 * 12);
});

test("RTO is clamped to its floor and doubles per backoff step up to the cap", () => {
  const rtt = new RttEstimator(config);
  rtt.update(1, 0);
  assert.equal(rtt.rto(0), 20);
  assert.equal(rtt.rto(1), 40);
  assert.equal(rtt.rto(3), 160);
  assert.equal(rtt.rto(20), 2000);
  const slow = new RttEstimator(config);
  slow.update(300, 0);
  assert.equal(slow.rto(0), 300 + 4 * 150);
});

test("loss delay is 9/8 of the larger of SRTT and the latest sample, at least the granularity", () => {
  const rtt = new RttEstimator(config);
  rtt.update(8, 0);
  assert.equal(rtt.lossDelay(), 9);
  rtt.update(16, 0);
  assert.equal(rtt.lossDelay(), (9 / 8) * 16);
  const tiny = new RttEstimator(config);
  tiny.update(0.1, 0);
  assert.equal(tiny.lossDelay(), 1);
});

test("a negative or NaN sample is ignored", () => {
  const rtt = new RttEstimator(config);
  rtt.update(-1, 0);
  rtt.update(Number.NaN, 0);
  assert.equal(rtt.hasSample, false);
});
