/**
 * Sender-side packet history, ACK processing and loss detection (RFC 9002 §6):
 * - a packet is lost when a packet sent 3 or more packet numbers later was acknowledged (packet
 *   threshold), or when it was sent more than 9/8 RTT before a later acknowledged one (time threshold);
 * - when nothing is acknowledged for an RTO (RFC 6298 formula, exponential backoff per unanswered
 *   timeout) a probe timeout fires and the connection sends probes instead of declaring loss, so a
 *   delayed ACK never causes a window of spurious retransmissions.
 *
 * Packet numbers are contiguous, so the history is a deque indexed by `pn - basePn`: lookups on the ACK
 * path are array accesses, and settled packets are shifted off the front. Because every packet more than
 * 3 numbers below the largest acknowledged one is settled by the packet threshold, each ACK touches only
 * the newly acknowledged packets plus at most three.
 */
import type { AckFrame } from "../wire/frames.js";
import type { RttEstimator } from "./rtt.js";
import { PacketState, type SentPacket } from "./sent-packet.js";

export const PACKET_THRESHOLD = 3;

export interface LossListener {
  onPacketAcked(p: SentPacket, now: number): void;
  onPacketLost(p: SentPacket, now: number): void;
}

export interface AckOutcome {
  /** The ACK named a packet number we never sent: the packet carrying it must be rejected. */
  invalid: boolean;
  ackedBytes: number;
  /** RTT sample in ms taken from this ACK, or -1. */
  rttSample: number;
}

export class LossDetector {
  nextPn = 0;
  largestAcked = -1;
  bytesInFlight = 0;
  /** Ack-eliciting packets not yet acknowledged or lost. */
  outstanding = 0;
  /** Consecutive probe timeouts without an acknowledgement; the RTO backoff exponent. */
  ptoCount = 0;

  private packets: SentPacket[] = [];
  private head = 0;
  private basePn = 0;
  private lossTime = Number.POSITIVE_INFINITY;
  private lastAckElicitingSent = 0;
  private readonly outcome: AckOutcome = { invalid: false, ackedBytes: 0, rttSample: -1 };

  constructor(
    private readonly rtt: RttEstimator,
    private readonly listener: LossListener,
  ) {}

  /** Registers a packet; its number must be `nextPn`. */
  onSent(p: SentPacket): void {
    if (p.pn !== this.nextPn)
      throw new Error(`packet ${p.pn} sent out of sequence (expected ${this.nextPn})`);
    this.nextPn++;
    this.packets.push(p);
    if (p.state === PacketState.Outstanding) {
      this.bytesInFlight += p.size;
      this.outstanding++;
      this.lastAckElicitingSent = p.timeSent;
    }
  }

  onAck(ack: AckFrame, now: number): AckOutcome {
    const out = this.outcome;
    out.ackedBytes = 0;
    out.rttSample = -1;
    const largest = ack.ranges[0]!.largest;
    out.invalid = largest >= this.nextPn;
    if (out.invalid) return out;
    for (const range of ack.ranges) {
      const low = Math.max(range.smallest, this.basePn);
      for (let pn = range.largest; pn >= low; pn--) {
        const p = this.packets[this.head + pn - this.basePn]!;
        if (p.state !== PacketState.Outstanding) continue;
        p.state = PacketState.Acked;
        this.bytesInFlight -= p.size;
        this.outstanding--;
        out.ackedBytes += p.size;
        if (pn === largest) out.rttSample = now - p.timeSent;
        this.listener.onPacketAcked(p, now);
      }
    }
    if (largest > this.largestAcked) this.largestAcked = largest;
    if (out.rttSample >= 0) this.rtt.update(out.rttSample, ack.delayMicros / 1000);
    if (out.ackedBytes > 0) this.ptoCount = 0;
    this.detectLost(now);
    this.trim();
    return out;
  }

  /** Earliest time `onTimeout` has work: the loss timer, else the probe timeout (Infinity when idle). */
  nextDeadline(): number {
    if (this.lossTime !== Number.POSITIVE_INFINITY) return this.lossTime;
    if (this.outstanding === 0) return Number.POSITIVE_INFINITY;
    return this.lastAckElicitingSent + this.rtt.rto(this.ptoCount);
  }

  /** Returns true when a probe timeout fired (the caller sends probes). */
  onTimeout(now: number): boolean {
    if (this.lossTime <= now) {
      this.detectLost(now);
      this.trim();
      return false;
    }
    if (this.outstanding > 0 && now >= this.lastAckElicitingSent + this.rtt.rto(this.ptoCount)) {
      this.ptoCount++;
      // Restart the timer from now so the backed-off timeout counts from this probe.
      this.lastAckElicitingSent = now;
      return true;
    }
    return false;
  }

  private detectLost(now: number): void {
    this.lossTime = Number.POSITIVE_INFINITY;
    if (this.largestAcked < 0) return;
    const delay = this.rtt.lossDelay();
    const lostBefore = now - delay;
    const end = Math.min(this.largestAcked, this.nextPn) - this.basePn + this.head;
    for (let i = this.head; i < end; i++) {
      const p = this.packets[i]!;
      if (p.state !== PacketState.Outstanding) continue;
      if (this.largestAcked - p.pn >= PACKET_THRESHOLD || p.timeSent <= lostBefore) {
        p.state = PacketState.Lost;
        this.bytesInFlight -= p.size;
        this.outstanding--;
        this.listener.onPacketLost(p, now);
      } else if (p.timeSent + delay < this.lossTime) {
        this.lossTime = p.timeSent + delay;
      }
    }
  }

  /** Shifts settled packets off the front; compacts the array once the dead prefix dominates. */
  private trim(): void {
    const packets = this.packets;
    while (this.head < packets.length && packets[this.head]!.state !== PacketState.Outstanding) {
      this.head++;
      this.basePn++;
    }
    if (this.head > 1024 && this.head * 2 > packets.length) {
      this.packets = packets.slice(this.head);
      this.head = 0;
    }
  }
}
