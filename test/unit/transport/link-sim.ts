/**
 * A deterministic discrete-event model of one bulk sender behind a bottleneck: drop-tail queue with a
 * fixed service rate, fixed propagation delay each way, seeded random loss after the bottleneck, and a
 * receiver that acknowledges every packet. It drives the real loss detector, delivery-rate sampler,
 * congestion controller and pacer, so their interplay is tested without sockets or wall-clock time.
 */
import { AckTracker } from "../../../src/transport/ack-tracker.js";
import { CongestionController } from "../../../src/transport/congestion.js";
import { DeliveryRateSampler } from "../../../src/transport/delivery-rate.js";
import { LossDetector } from "../../../src/transport/loss-detector.js";
import { Pacer } from "../../../src/transport/pacer.js";
import { RttEstimator } from "../../../src/transport/rtt.js";
import { SentPacket } from "../../../src/transport/sent-packet.js";
import type { AckFrame } from "../../../src/wire/frames.js";

export interface LinkModel {
  /** Bottleneck service rate, bytes per ms. */
  rate: number;
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Packets the bottleneck queue holds. */
  buffer: number;
  /** Random loss probability after the bottleneck. */
  loss: number;
  seed: number;
}

export interface SimResult {
  /** Bytes acknowledged per ms, measured over the second half of the run. */
  goodput: number;
  sent: number;
  lost: number;
  minCwnd: number;
  minPacingRate: number;
}

const MSS = 1000;

/** xorshift32: the simulation's only source of randomness. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

type Event = { at: number; seq: number; run: () => void };

export function simulate(link: LinkModel, durationMs: number): SimResult {
  const random = prng(link.seed);
  const events: Event[] = [];
  let seq = 0;
  let now = 0;
  const at = (time: number, run: () => void) => {
    const e = { at: time, seq: seq++, run };
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = events[mid]!;
      if (m.at < e.at || (m.at === e.at && m.seq < e.seq)) lo = mid + 1;
      else hi = mid;
    }
    events.splice(lo, 0, e);
  };

  const rtt = new RttEstimator({
    initialRttMs: 2 * link.delayMs,
    minRtoMs: 20,
    maxRtoMs: 2000,
    granularityMs: 1,
  });
  const sampler = new DeliveryRateSampler();
  const cc = new CongestionController(
    { mss: MSS, maxCwnd: 10_000 * MSS, initialCwndPackets: 10, minCwndPackets: 4, ackAllowanceMs: 1 },
    2 * link.delayMs,
  );
  const pacer = new Pacer(2, 2 * MSS, 0);
  let sent = 0;
  let lost = 0;
  let ackedLate = 0;
  const half = durationMs / 2;
  let minCwnd = Number.POSITIVE_INFINITY;
  let minPacingRate = Number.POSITIVE_INFINITY;
  const detector = new LossDetector(rtt, {
    onPacketAcked(p, t) {
      sampler.onAcked(p, t);
      if (t >= half) ackedLate += p.size;
    },
    onPacketLost(p) {
      lost++;
      cc.onLoss(p.size);
    },
  });
  const receiver = new AckTracker(0);
  let queueFreeAt = 0;
  let queued = 0;
  let wakeScheduled = false;
  let probes = 0;

  const onAck = (frame: AckFrame) => {
    const outcome = detector.onAck(frame, now);
    if (outcome.ackedBytes > 0) {
      const sample = sampler.takeSample(Number.isFinite(cc.minRtt) ? cc.minRtt : 0);
      cc.onAck(now, sample, outcome.ackedBytes, outcome.rttSample, detector.bytesInFlight, sampler.delivered);
      minCwnd = Math.min(minCwnd, cc.cwnd);
      minPacingRate = Math.min(minPacingRate, cc.pacingRate);
    }
    trySend();
  };

  const arriveAtReceiver = (pn: number) => {
    receiver.onPacket(pn, true, now);
    const frame = receiver.buildFrame(now)!;
    at(now + link.delayMs, () => onAck(frame));
  };

  const transmit = (probe: boolean) => {
    const p = new SentPacket(detector.nextPn, now, MSS, true, null, false);
    sampler.onSent(p, now, detector.bytesInFlight);
    detector.onSent(p);
    if (!probe) pacer.onSent(MSS);
    sent++;
    if (queued >= link.buffer) return;
    queued++;
    queueFreeAt = Math.max(queueFreeAt, now) + MSS / link.rate;
    const pn = p.pn;
    at(queueFreeAt, () => {
      queued--;
      if (random() < link.loss) return;
      at(now + link.delayMs, () => arriveAtReceiver(pn));
    });
  };

  const trySend = () => {
    while (probes > 0) {
      probes--;
      transmit(true);
    }
    while (detector.bytesInFlight + MSS <= cc.cwnd) {
      if (!pacer.canSend(now, cc.pacingRate)) {
        if (!wakeScheduled) {
          wakeScheduled = true;
          at(now + pacer.delayUntilSend(now, cc.pacingRate), () => {
            wakeScheduled = false;
            trySend();
          });
        }
        break;
      }
      transmit(false);
    }
  };

  const timer = () => {
    const deadline = detector.nextDeadline();
    if (deadline <= now && detector.onTimeout(now)) probes = 2;
    trySend();
    at(now + 1, timer);
  };

  at(0, timer);
  while (events.length > 0) {
    const e = events.shift()!;
    if (e.at > durationMs) break;
    now = e.at;
    e.run();
  }
  return { goodput: ackedLate / (durationMs - half), sent, lost, minCwnd, minPacingRate };
}
