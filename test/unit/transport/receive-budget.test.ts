import assert from "node:assert/strict";
import { test } from "node:test";
import { datagramTruesize, receiveWindowPackets } from "../../../src/transport/receive-budget.js";

const MiB = 1024 * 1024;

test("truesize follows what this kernel charged per datagram, never below it", () => {
  // Measured: an 8 MiB buffer held 3640 datagrams of 1200 B, 504 of 8000 and of 16000, 255 of 32000,
  // 127 of 65000.
  for (const [size, held] of [
    [1200, 3640],
    [8000, 504],
    [16000, 504],
    [32000, 255],
    [65000, 127],
  ] as const) {
    const charged = (8 * MiB) / held;
    assert.ok(datagramTruesize(size) >= charged * 0.99, `${size} B: ${datagramTruesize(size)} < ${charged}`);
    assert.ok(datagramTruesize(size) <= charged * 1.05, `${size} B: ${datagramTruesize(size)} >> ${charged}`);
  }
});

test("the window fills two thirds of the peer's buffer", () => {
  // 255 loopback datagrams fit in 8 MiB; 180 in flight lost none under load, 200 lost some.
  assert.equal(receiveWindowPackets(8 * MiB, 32000), 169);
  assert.equal(receiveWindowPackets(8 * MiB, 1400), 2427);
  assert.equal(receiveWindowPackets(416 * 1024, 32000), 8);
});
