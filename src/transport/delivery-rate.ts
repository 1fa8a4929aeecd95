/**
 * Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation): every packet remembers how much
 * had been delivered when it was sent; when it is acknowledged, delivered-now minus delivered-then over
 * the elapsed time is a sample of the rate the path actually carried. Losses simply deliver nothing,
 * which is why a rate-based controller is not fooled by random loss.
 */
import type { SentPacket } from "./sent-packet.js";

export interface RateSample {
  /** Bytes per millisecond; -1 when the interval was too short to measure. */
  rate: number;
  /** The sample was taken while the sender had nothing to send: it may underestimate the path. */
  appLimited: boolean;
  /** `delivered` of the most recently sent packet acknowledged in this ACK (round counting). */
  priorDelivered: number;
}

export class DeliveryRateSampler {
  /** Bytes acknowledged since the connection started. */
  delivered = 0;
  private deliveredTime = 0;
  private firstSentTime = 0;
  /** While `delivered` is below this, new packets are marked app-limited (0: not app-limited). */
  private appLimitedUntil = 0;

  private hasNew = false;
  private priorDelivered = 0;
  private sendElapsed = 0;
  private ackElapsed = 0;
  private sampleAppLimited = false;
  private readonly sample: RateSample = { rate: 0, appLimited: false, priorDelivered: 0 };

  onSent(p: SentPacket, now: number, bytesInFlight: number): void {
    if (bytesInFlight === 0) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    p.delivered = this.delivered;
    p.deliveredTime = this.deliveredTime;
    p.firstSentTime = this.firstSentTime;
    p.appLimited = this.appLimitedUntil !== 0;
  }

  /** The sender ran out of data with room in the window: samples until this flight is acked are app-limited. */
  markAppLimited(bytesInFlight: number): void {
    this.appLimitedUntil = Math.max(1, this.delivered + bytesInFlight);
  }

  onAcked(p: SentPacket, now: number): void {
    this.delivered += p.size;
    this.deliveredTime = now;
    if (this.appLimitedUntil !== 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
    if (!this.hasNew || p.delivered >= this.priorDelivered) {
      this.hasNew = true;
      this.priorDelivered = p.delivered;
      this.sendElapsed = p.timeSent - p.firstSentTime;
      this.ackElapsed = now - p.deliveredTime;
      this.sampleAppLimited = p.appLimited;
      this.firstSentTime = p.timeSent;
    }
  }

  /**
   * The sample for the packets acknowledged since the last call (null if none). The interval is the
   * longer of the send and ACK phases, so neither ACK compression nor a send burst inflates the rate;
   * intervals shorter than `minIntervalMs` are too noisy and give rate -1.
   */
  takeSample(minIntervalMs: number): RateSample | null {
    if (!this.hasNew) return null;
    this.hasNew = false;
    const interval = Math.max(this.sendElapsed, this.ackElapsed);
    const usable = interval > 0 && interval >= minIntervalMs;
    this.sample.rate = usable ? (this.delivered - this.priorDelivered) / interval : -1;
    this.sample.appLimited = this.sampleAppLimited;
    this.sample.priorDelivered = this.priorDelivered;
    return this.sample;
  }
}
