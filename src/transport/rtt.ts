/**
 * Round-trip time estimation (RFC 6298 smoothing, with the RFC 9002 refinements for ack delay).
 *
 * Karn's rule (ignore samples from retransmitted segments) is not needed: a retransmission travels in a
 * packet with a new packet number, so every ACK names exactly the transmission it acknowledges and no
 * sample is ambiguous.
 */
export interface RttConfig {
  /** RTT assumed before the first sample (the handshake supplies a better one). */
  initialRttMs: number;
  /** Floor of the retransmission timeout. Loopback RTTs are ~0.1 ms, but a GC pause at the peer lasts
   * 1–40 ms: a floor far below that would resend data that is merely waiting. */
  minRtoMs: number;
  maxRtoMs: number;
  /** Timer granularity: libuv timers have millisecond resolution. */
  granularityMs: number;
}

export const defaultRttConfig: Readonly<RttConfig> = Object.freeze({
  initialRttMs: 100,
  minRtoMs: 20,
  maxRtoMs: 2000,
  granularityMs: 1,
});

export class RttEstimator {
  smoothed: number;
  variation: number;
  latest = 0;
  min = Number.POSITIVE_INFINITY;
  hasSample = false;

  constructor(private readonly config: RttConfig = defaultRttConfig) {
    this.smoothed = config.initialRttMs;
    this.variation = config.initialRttMs / 2;
  }

  /**
   * Feeds one sample. `ackDelayMs` is what the peer reports it held the ACK; it is subtracted only when
   * the result stays above the minimum RTT, so a lying or confused peer cannot shrink the estimate
   * below what the path has shown.
   */
  update(sampleMs: number, ackDelayMs: number): void {
    if (!(sampleMs >= 0)) return;
    this.latest = sampleMs;
    if (sampleMs < this.min) this.min = sampleMs;
    let adjusted = sampleMs;
    if (sampleMs - ackDelayMs >= this.min) adjusted = sampleMs - ackDelayMs;
    if (!this.hasSample) {
      this.hasSample = true;
      this.smoothed = adjusted;
      this.variation = adjusted / 2;
      return;
    }
    this.variation = 0.75 * this.variation + 0.25 * Math.abs(this.smoothed - adjusted);
    this.smoothed = 0.875 * this.smoothed + 0.125 * adjusted;
  }

  /** RFC 6298 RTO = SRTT + max(G, 4·RTTVAR), clamped; `backoff` doubles it per unanswered timeout. */
  rto(backoff: number): number {
    const base = this.smoothed + Math.max(this.config.granularityMs, 4 * this.variation);
    const clamped = Math.min(this.config.maxRtoMs, Math.max(this.config.minRtoMs, base));
    return Math.min(this.config.maxRtoMs, clamped * 2 ** backoff);
  }

  /** Time after which a packet older than a later acknowledged one is declared lost: 9/8 RTT. */
  lossDelay(): number {
    const rtt = Math.max(this.smoothed, this.latest);
    return Math.max(this.config.granularityMs, (9 / 8) * rtt);
  }
}
