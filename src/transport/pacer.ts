/**
 * Token-bucket pacer. Node timers have millisecond resolution, so pacing cannot space individual
 * 30 µs packets; instead the bucket refills at the pacing rate and holds at most `burstMs` worth of
 * tokens, which the endpoint spends in batches between event-loop turns.
 */
export class Pacer {
  private tokens: number;
  private last: number;

  constructor(
    private readonly burstMs: number,
    private readonly minBurstBytes: number,
    now: number,
  ) {
    this.tokens = minBurstBytes;
    this.last = now;
  }

  private refill(now: number, rate: number): void {
    const cap = Math.max(this.minBurstBytes, rate * this.burstMs);
    if (now > this.last) this.tokens = Math.min(cap, this.tokens + (now - this.last) * rate);
    this.last = now;
  }

  /** True if a packet may leave now. Tokens may go negative by one packet: the debt delays the next. */
  canSend(now: number, rate: number): boolean {
    this.refill(now, rate);
    return this.tokens > 0;
  }

  onSent(bytes: number): void {
    this.tokens -= bytes;
  }

  /** Milliseconds until `canSend` becomes true at `rate`. */
  delayUntilSend(now: number, rate: number): number {
    this.refill(now, rate);
    return this.tokens > 0 ? 0 : (1 - this.tokens) / rate;
  }
}
