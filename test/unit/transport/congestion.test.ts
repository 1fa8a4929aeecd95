import assert from "node:assert/strict";
import { test } from "node:test";
import { CongestionController, CongestionMode } from "../../../src/transport/congestion.js";
import type { RateSample } from "../../../src/transport/delivery-rate.js";
import { simulate } from "./link-sim.js";

const config = {
  mss: 1000,
  maxCwnd: 1000 * 1000,
  initialCwndPackets: 10,
  minCwndPackets: 4,
  ackAllowanceMs: 1,
};

function sample(rate: number, priorDelivered: number, appLimited = false): RateSample {
  return { rate, appLimited, priorDelivered };
}

/** Drives a controller with one ACK per round trip (every ACK starts a new round). */
class Driver {
  delivered = 0;
  now = 0;
  constructor(readonly cc: CongestionController) {}

  rounds(rates: number[], lostPerRound = 0): void {
    for (const rate of rates) this.round(rate, lostPerRound);
  }

  round(rate: number, lost = 0, appLimited = false): void {
    if (lost > 0) this.cc.onLoss(lost);
    const prior = this.delivered;
    this.delivered += 10_000;
    this.now += 10;
    this.cc.onAck(this.now, sample(rate, prior, appLimited), 10_000, 10, 0, this.delivered);
  }
}

test("startup ends after three rounds without 25 % bandwidth growth", () => {
  const cc = new CongestionController(config, 10);
  const d = new Driver(cc);
  d.rounds([100, 200, 400, 800]);
  assert.equal(cc.mode, CongestionMode.Startup);
  // The check runs when a round starts, on the samples of the rounds before: one round of lag.
  let flatRounds = 0;
  while (cc.mode === CongestionMode.Startup && flatRounds < 10) {
    d.round(850 + flatRounds);
    flatRounds++;
  }
  assert.equal(flatRounds, 4);
  // Drain ends at once here (nothing in flight).
  assert.equal(cc.mode, CongestionMode.ProbeBw);
  assert.equal(cc.bandwidth, 853);
});

test("random loss below the threshold leaves the bandwidth estimate alone", () => {
  const cc = new CongestionController(config, 10);
  // 1 lost packet per 10 delivered: 9 % loss every round.
  new Driver(cc).rounds(new Array(20).fill(1000), 1000);
  assert.equal(cc.bandwidth, 1000);
});

test("heavy loss cuts the estimate by 15 %, at most once per round", () => {
  const cc = new CongestionController(config, 10);
  const d = new Driver(cc);
  d.rounds(new Array(12).fill(1000));
  const before = cc.bandwidth;
  // A round in which as much was lost as delivered; the cut is applied when the next round starts.
  cc.onLoss(20_000);
  d.round(0);
  assert.equal(cc.bandwidth, before * 0.85);
  // More loss reported within the round that just started: no second cut before it ends.
  cc.onLoss(20_000);
  cc.onAck(d.now + 1, sample(0, d.delivered - 10_000), 1000, 10, 0, d.delivered + 1000);
  assert.equal(cc.bandwidth, before * 0.85, "no second cut within the same round");
});

test("pacing rate and window never fall below the floor, and the window respects its cap", () => {
  const cc = new CongestionController(config, 10);
  new Driver(cc).rounds(new Array(30).fill(0.001));
  assert.ok(cc.cwnd >= 4 * config.mss);
  assert.ok(cc.pacingRate >= (4 * config.mss) / 10);
  const capped = new CongestionController({ ...config, maxCwnd: 20_000 }, 10);
  new Driver(capped).rounds(new Array(10).fill(1e6));
  assert.equal(capped.cwnd, 20_000);
});

test("app-limited samples cannot lower the estimate", () => {
  const cc = new CongestionController(config, 10);
  const d = new Driver(cc);
  d.rounds(new Array(12).fill(1000));
  d.round(10, 0, true);
  assert.equal(cc.bandwidth, 1000);
});

// Bottleneck 10 MB/s (10 000 bytes/ms), RTT 20 ms, 100-packet queue: a 200-packet BDP pipe.
const pipe = { rate: 10_000, delayMs: 10, buffer: 100, seed: 42 };

test("on a clean path the sender fills the bottleneck", () => {
  const r = simulate({ ...pipe, loss: 0 }, 4000);
  assert.ok(r.goodput > 0.9 * pipe.rate, `goodput ${r.goodput}`);
  assert.ok(r.lost / r.sent < 0.05, `loss ${r.lost}/${r.sent}`);
});

for (const loss of [0.05, 0.1, 0.15]) {
  test(`${loss * 100} % random loss does not collapse throughput`, () => {
    const r = simulate({ ...pipe, loss }, 4000);
    // Lost packets never arrive, so (1 - loss) of the link is the ceiling.
    assert.ok(r.goodput > 0.8 * (1 - loss) * pipe.rate, `goodput ${r.goodput}`);
    assert.ok(r.minCwnd >= 4000 && r.minPacingRate > 0);
  });
}

test("a shallow bottleneck queue is not overrun persistently", () => {
  const r = simulate({ ...pipe, buffer: 20, loss: 0 }, 4000);
  assert.ok(r.goodput > 0.8 * pipe.rate, `goodput ${r.goodput}`);
  assert.ok(r.lost / r.sent < 0.1, `loss ${r.lost}/${r.sent}`);
});
