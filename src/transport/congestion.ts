/**
 * Congestion control: a simplified BBR (Cardwell et al., "BBR: Congestion-Based Congestion Control").
 *
 * Why not CUBIC/NewReno: the relay in front of LEFT's tests drops 5–10 % of datagrams at random, and on
 * real paths random loss is common too. A loss-based controller halves (or ×0.7) its window at every
 * loss epoch; at 5 % loss that is every round trip, so its window collapses to the floor. This
 * controller instead paces at the delivery rate it measures (losses just deliver nothing) and keeps a
 * window of about two bandwidth-delay products. Loss is a signal only when it is heavy for this path:
 * more than 20 % of a round's packets, and more than twice the long-run average loss, means we overran
 * a buffer, and the bandwidth estimate is cut by 15 %, at most once per round. The comparison with the
 * average is what keeps high random loss from ratcheting the rate down round after round. Rate and
 * window never fall below a floor of `minCwndPackets` per RTT. Random loss p still slows growth: a
 * probe at gain 1.25 delivers 1.25·(1 − p) of the estimate, so the rate climbs while p < 20 %.
 *
 * Phases: STARTUP doubles the rate every round until the measured bandwidth stops growing (3 rounds
 * below +25 %) or loss is heavy; DRAIN empties the queue STARTUP built; PROBE_BW cycles the pacing gain
 * through 1.25 (probe for more), 0.75 (drain what the probe queued), then 1 for six round trips.
 * BBR's PROBE_RTT phase is left out: minimum RTT simply expires after 10 s and is re-measured.
 */
import type { RateSample } from "./delivery-rate.js";

export interface CongestionConfig {
  /** Bytes per full packet. */
  mss: number;
  /** Window cap in bytes (`window` option × packet size). */
  maxCwnd: number;
  initialCwndPackets: number;
  minCwndPackets: number;
  /**
   * Added to the minimum RTT when sizing the window: the peer may hold an ACK up to its max ACK delay
   * and our timers fire with millisecond granularity, so on loopback (RTT ≈ 0.1 ms) a window of 2·BDP
   * alone would stall the sender between ACK batches.
   */
  ackAllowanceMs: number;
}

export const CongestionMode = { Startup: 0, Drain: 1, ProbeBw: 2 } as const;
export type CongestionMode = (typeof CongestionMode)[keyof typeof CongestionMode];

const STARTUP_GAIN = 2 / Math.LN2;
const DRAIN_GAIN = 1 / STARTUP_GAIN;
const CWND_GAIN = 2;
const PROBE_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_WINDOW_ROUNDS = 10;
const MIN_RTT_WINDOW_MS = 10_000;
const FULL_BW_GROWTH = 1.25;
const FULL_BW_ROUNDS = 3;
const HEAVY_LOSS_RATIO = 0.2;
const HEAVY_LOSS_BACKOFF = 0.85;
/** A round with fewer losses says nothing about the loss rate (the first rounds carry ~10 packets). */
const MIN_LOSSES_FOR_BACKOFF = 5;
/** Weight of one round in the long-run loss average. */
const LOSS_AVERAGE_GAIN = 1 / 8;

export class CongestionController {
  mode: CongestionMode = CongestionMode.Startup;
  /** Bytes per millisecond. */
  pacingRate: number;
  /** Bytes allowed in flight. */
  cwnd: number;
  /** Windowed-max bottleneck bandwidth, bytes per millisecond (0 before the first sample). */
  bandwidth = 0;
  minRtt = Number.POSITIVE_INFINITY;

  private readonly bwByRound = new Float64Array(BW_WINDOW_ROUNDS);
  private round = 0;
  private nextRoundDelivered = 0;
  private fullBw = 0;
  private fullBwRounds = 0;
  private cycleIndex = 0;
  private cycleStart = 0;
  private minRttStamp = 0;
  private roundDelivered = 0;
  private roundLost = 0;
  private lossAverage = 0;

  constructor(
    private readonly config: CongestionConfig,
    private readonly initialRttMs: number,
  ) {
    this.cwnd = Math.min(config.maxCwnd, config.initialCwndPackets * config.mss);
    this.pacingRate = (STARTUP_GAIN * this.cwnd) / Math.max(initialRttMs, 0.01);
  }

  get pacingGain(): number {
    if (this.mode === CongestionMode.Startup) return STARTUP_GAIN;
    if (this.mode === CongestionMode.Drain) return DRAIN_GAIN;
    return PROBE_GAINS[this.cycleIndex]!;
  }

  /**
   * Called once per ACK frame that acknowledged something. `rttMs` is this ACK's RTT sample (or -1),
   * `delivered` the sampler's running total after this ACK.
   */
  onAck(
    now: number,
    sample: RateSample | null,
    ackedBytes: number,
    rttMs: number,
    bytesInFlight: number,
    delivered: number,
  ): void {
    if (rttMs >= 0 && (rttMs <= this.minRtt || now - this.minRttStamp > MIN_RTT_WINDOW_MS)) {
      this.minRtt = rttMs;
      this.minRttStamp = now;
    }
    this.roundDelivered += ackedBytes;
    if (sample !== null) {
      if (sample.priorDelivered >= this.nextRoundDelivered) this.startRound(delivered, sample.appLimited);
      if (sample.rate > 0 && (!sample.appLimited || sample.rate >= this.bandwidth)) {
        const slot = this.round % BW_WINDOW_ROUNDS;
        if (sample.rate > this.bwByRound[slot]!) this.bwByRound[slot] = sample.rate;
        if (sample.rate > this.bandwidth) this.bandwidth = sample.rate;
      }
    }
    this.advancePhase(now, bytesInFlight);
    this.recompute();
  }

  onLoss(lostBytes: number): void {
    this.roundLost += lostBytes;
  }

  private startRound(delivered: number, appLimited: boolean): void {
    const total = this.roundDelivered + this.roundLost;
    if (total > 0) {
      const ratio = this.roundLost / total;
      const meaningful = this.roundLost >= MIN_LOSSES_FOR_BACKOFF * this.config.mss;
      if (meaningful && ratio > HEAVY_LOSS_RATIO && ratio > 2 * this.lossAverage) this.backOff();
      this.lossAverage += LOSS_AVERAGE_GAIN * (ratio - this.lossAverage);
    }
    this.roundDelivered = 0;
    this.roundLost = 0;
    this.round++;
    this.nextRoundDelivered = delivered;
    this.bwByRound[this.round % BW_WINDOW_ROUNDS] = 0;
    let max = 0;
    for (const bw of this.bwByRound) if (bw > max) max = bw;
    this.bandwidth = max;
    if (this.mode === CongestionMode.Startup && !appLimited && this.bandwidth > 0) {
      if (this.bandwidth >= this.fullBw * FULL_BW_GROWTH) {
        this.fullBw = this.bandwidth;
        this.fullBwRounds = 0;
      } else if (++this.fullBwRounds >= FULL_BW_ROUNDS) {
        this.mode = CongestionMode.Drain;
      }
    }
  }

  /** Heavy loss: we overran a queue. Shrink the estimate (once per round, by construction) and stop growing. */
  private backOff(): void {
    for (let i = 0; i < BW_WINDOW_ROUNDS; i++) this.bwByRound[i]! *= HEAVY_LOSS_BACKOFF;
    this.bandwidth *= HEAVY_LOSS_BACKOFF;
    if (this.mode === CongestionMode.Startup) this.mode = CongestionMode.Drain;
  }

  private advancePhase(now: number, bytesInFlight: number): void {
    if (this.mode === CongestionMode.Drain && bytesInFlight <= this.bdp()) {
      this.mode = CongestionMode.ProbeBw;
      this.cycleIndex = 2;
      this.cycleStart = now;
    } else if (this.mode === CongestionMode.ProbeBw && now - this.cycleStart > this.rttForSizing()) {
      this.cycleIndex = (this.cycleIndex + 1) % PROBE_GAINS.length;
      this.cycleStart = now;
    }
  }

  private rttForSizing(): number {
    return Number.isFinite(this.minRtt) ? this.minRtt : this.initialRttMs;
  }

  private bdp(): number {
    return this.bandwidth * this.rttForSizing();
  }

  private recompute(): void {
    const { mss, maxCwnd, minCwndPackets, ackAllowanceMs } = this.config;
    const rtt = this.rttForSizing();
    const floorBytes = minCwndPackets * mss;
    if (this.bandwidth === 0) return;
    const pacingRate = Math.max(this.pacingGain * this.bandwidth, floorBytes / Math.max(rtt, 0.01));
    const cwnd = Math.min(maxCwnd, Math.max(floorBytes, CWND_GAIN * this.bandwidth * (rtt + ackAllowanceMs)));
    // STARTUP only ever grows: its first samples come from a flight that began idle and read low.
    const startup = this.mode === CongestionMode.Startup;
    this.pacingRate = startup ? Math.max(this.pacingRate, pacingRate) : pacingRate;
    this.cwnd = startup ? Math.max(this.cwnd, cwnd) : cwnd;
  }
}
