import assert from "node:assert/strict";
import { test } from "node:test";
import { DeliveryRateSampler } from "../../../src/transport/delivery-rate.js";
import { SentPacket } from "../../../src/transport/sent-packet.js";

test("a steady pipe measures its delivery rate once the first flight is acknowledged", () => {
  // One 1000-byte packet per ms, each acknowledged 10 ms after it was sent.
  const s = new DeliveryRateSampler();
  const packets: SentPacket[] = [];
  const rates: number[] = [];
  for (let t = 0; t < 40; t++) {
    if (t >= 10) {
      s.onAcked(packets[t - 10]!, t);
      rates.push(s.takeSample(0)!.rate);
    }
    const p = new SentPacket(t, t, 1000, true, null, false);
    s.onSent(p, t, (packets.length - Math.max(0, t - 10)) * 1000);
    packets.push(p);
  }
  // The first flight's samples include the idle start and read low; afterwards they are exact.
  assert.ok(rates[0]! < 1000);
  assert.deepEqual(rates.slice(10), new Array(rates.length - 10).fill(1000));
  assert.equal(s.delivered, 30_000);
});

test("ACK compression does not inflate the rate: the longer send phase counts", () => {
  const s = new DeliveryRateSampler();
  const packets: SentPacket[] = [];
  for (let i = 0; i < 10; i++) {
    const p = new SentPacket(i, i * 10, 1000, true, null, false);
    s.onSent(p, i * 10, i * 1000);
    packets.push(p);
  }
  // All ten acknowledged in one instant.
  for (const p of packets) s.onAcked(p, 100);
  const sample = s.takeSample(0);
  assert.ok(sample);
  // 9000 bytes delivered since packet 0's prior state, over the 90 ms send phase of packet 9.
  assert.equal(sample.rate, 10_000 / 100);
});

test("samples over intervals shorter than the minimum are marked unusable", () => {
  const s = new DeliveryRateSampler();
  const p = new SentPacket(0, 0, 1000, true, null, false);
  s.onSent(p, 0, 0);
  s.onAcked(p, 0.5);
  assert.equal(s.takeSample(1)?.rate, -1);
  assert.equal(s.takeSample(1), null);
});

test("packets sent while application-limited produce app-limited samples", () => {
  const s = new DeliveryRateSampler();
  s.markAppLimited(0);
  const p = new SentPacket(0, 0, 1000, true, null, false);
  s.onSent(p, 0, 0);
  s.onAcked(p, 10);
  assert.equal(s.takeSample(0)?.appLimited, true);
  const q = new SentPacket(1, 10, 1000, true, null, false);
  s.onSent(q, 10, 0);
  s.onAcked(q, 20);
  assert.equal(s.takeSample(0)?.appLimited, false);
});
