import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultPacketSize } from "../../../src/transport/packet-size.js";

test("loopback peers get 65000-byte datagrams, others an MTU-safe 1400", () => {
  assert.equal(defaultPacketSize("127.0.0.3"), 65000);
  assert.equal(defaultPacketSize("127.255.1.2"), 65000);
  assert.equal(defaultPacketSize("10.0.0.1"), 1400);
  assert.equal(defaultPacketSize("128.0.0.1"), 1400);
});

test("an explicit size wins, within what a datagram and the handshake allow", () => {
  assert.equal(defaultPacketSize("127.0.0.3", 9000), 9000);
  assert.equal(defaultPacketSize("10.0.0.1", 65507), 65507);
  assert.throws(() => defaultPacketSize("10.0.0.1", 65508), RangeError);
  assert.throws(() => defaultPacketSize("10.0.0.1", 1199), RangeError);
  assert.throws(() => defaultPacketSize("10.0.0.1", 1500.5), RangeError);
});
