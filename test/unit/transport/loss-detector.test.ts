import assert from "node:assert/strict";
import { test } from "node:test";
import { LossDetector } from "../../../src/transport/loss-detector.js";
import { RttEstimator } from "../../../src/transport/rtt.js";
import { PacketState, SentPacket } from "../../../src/transport/sent-packet.js";
import { type AckFrame, type AckRange, FrameType } from "../../../src/wire/frames.js";

const rttConfig = { initialRttMs: 10, minRtoMs: 20, maxRtoMs: 2000, granularityMs: 1 };

function setup() {
  const acked: number[] = [];
  const lost: number[] = [];
  const rtt = new RttEstimator(rttConfig);
  const detector = new LossDetector(rtt, {
    onPacketAcked: (p) => acked.push(p.pn),
    onPacketLost: (p) => lost.push(p.pn),
  });
  const send = (count: number, at: number, eliciting = true) => {
    for (let i = 0; i < count; i++) {
      detector.onSent(new SentPacket(detector.nextPn, at, 1000, eliciting, null, false));
    }
  };
  return { detector, rtt, acked, lost, send };
}

function ack(...ranges: [number, number][]): AckFrame {
  const list: AckRange[] = ranges.map(([smallest, largest]) => ({ smallest, largest }));
  return { type: FrameType.Ack, delayMicros: 0, ranges: list };
}

test("acknowledged packets leave flight and give an RTT sample from the largest", () => {
  const { detector, rtt, acked, send } = setup();
  send(3, 0);
  assert.equal(detector.bytesInFlight, 3000);
  const outcome = detector.onAck(ack([0, 2]), 8);
  assert.equal(outcome.invalid, false);
  assert.equal(outcome.ackedBytes, 3000);
  assert.equal(outcome.rttSample, 8);
  assert.equal(rtt.smoothed, 8);
  assert.deepEqual(acked.sort(), [0, 1, 2]);
  assert.equal(detector.bytesInFlight, 0);
  assert.equal(detector.outstanding, 0);
});

test("a packet 3 below the largest acknowledged is lost (packet threshold)", () => {
  const { detector, lost, send } = setup();
  send(5, 0);
  detector.onAck(ack([4, 4], [0, 0]), 1);
  assert.deepEqual(lost, [1]);
  assert.equal(detector.bytesInFlight, 2000);
});

test("a gap older than 9/8 RTT before the ACK is lost at once (time threshold)", () => {
  const { detector, lost, send } = setup();
  send(1, 0);
  send(1, 5);
  // Sample 8 ms -> loss delay 9 ms; packet 0 was sent 13 ms ago.
  detector.onAck(ack([1, 1]), 13);
  assert.deepEqual(lost, [0]);
});

test("a younger gap is declared lost by the loss timer", () => {
  const { detector, lost, send } = setup();
  send(2, 10);
  // Sample 1 ms -> loss delay 1.125 ms: packet 0 is not yet overdue.
  detector.onAck(ack([1, 1]), 11);
  assert.deepEqual(lost, []);
  assert.equal(detector.nextDeadline(), 11.125);
  assert.equal(detector.onTimeout(11.1), false);
  assert.deepEqual(lost, []);
  assert.equal(detector.onTimeout(11.125), false);
  assert.deepEqual(lost, [0]);
  assert.equal(detector.bytesInFlight, 0);
});

test("an ACK for a packet never sent is invalid and changes nothing", () => {
  const { detector, acked, send } = setup();
  send(2, 0);
  const outcome = detector.onAck(ack([0, 5]), 1);
  assert.equal(outcome.invalid, true);
  assert.deepEqual(acked, []);
  assert.equal(detector.bytesInFlight, 2000);
});

test("the probe timeout follows the RTO and backs off exponentially", () => {
  const { detector, rtt, send } = setup();
  send(1, 0);
  detector.onAck(ack([0, 0]), 2);
  send(1, 10);
  const rto = rtt.rto(0);
  assert.equal(detector.nextDeadline(), 10 + rto);
  assert.equal(detector.onTimeout(10 + rto - 1), false);
  assert.equal(detector.onTimeout(10 + rto), true);
  assert.equal(detector.ptoCount, 1);
  assert.equal(detector.nextDeadline(), 10 + rto + rtt.rto(1));
  assert.equal(rtt.rto(1), 2 * rto);
  // An acknowledgement resets the backoff.
  send(1, 100);
  detector.onAck(ack([2, 2]), 101);
  assert.equal(detector.ptoCount, 0);
});

test("ACK-only packets are never in flight and do not hold up the history", () => {
  const { detector, send, lost } = setup();
  send(1, 0, false);
  send(1, 0);
  send(1, 0, false);
  assert.equal(detector.outstanding, 1);
  assert.equal(detector.bytesInFlight, 1000);
  detector.onAck(ack([1, 1]), 1);
  assert.equal(detector.outstanding, 0);
  assert.deepEqual(lost, []);
  assert.equal(detector.nextDeadline(), Number.POSITIVE_INFINITY);
});

test("a late ACK for a packet already declared lost is ignored", () => {
  const { detector, acked, lost, send } = setup();
  send(5, 0);
  detector.onAck(ack([4, 4]), 1);
  assert.deepEqual(lost.sort(), [0, 1]);
  detector.onAck(ack([0, 4]), 2);
  assert.deepEqual(acked.sort(), [2, 3, 4]);
});

test("states are tracked per packet", () => {
  const p = new SentPacket(0, 0, 10, false, null, false);
  assert.equal(p.state, PacketState.Untracked);
});
