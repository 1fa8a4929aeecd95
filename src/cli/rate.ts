/**
 * A rate from successive readings of a cumulative counter (bytes sent, bytes of a file written),
 * smoothed exponentially so that one slow or bursty interval does not make speeds and ETAs jump.
 */
export class RateMeter {
  private lastAt = Number.NaN;
  private lastValue = 0;
  private smoothed = 0;
  private seeded = false;

  /** `halfLifeMs`: how long until an old interval counts half as much as the newest one. */
  constructor(private readonly halfLifeMs = 1500) {}

  /** Records the counter's value at `atMs` (a monotonic clock) and returns the rate per second. */
  sample(value: number, atMs: number): number {
    const elapsed = atMs - this.lastAt;
    // A reading that is not later than the last one carries no rate; keep the last as the reference.
    if (elapsed <= 0) return this.smoothed;
    const delta = value - this.lastValue;
    this.lastAt = atMs;
    this.lastValue = value;
    if (Number.isNaN(elapsed)) return this.smoothed;
    const instant = Math.max(0, (delta * 1000) / elapsed);
    if (this.seeded) {
      this.smoothed += (instant - this.smoothed) * (1 - 0.5 ** (elapsed / this.halfLifeMs));
    } else {
      // The first interval is the only evidence there is: starting from 0 would understate every early rate.
      this.smoothed = instant;
      this.seeded = true;
    }
    return this.smoothed;
  }

  get perSecond(): number {
    return this.smoothed;
  }
}

/** Seconds until `remaining` is done at `perSecond`; null when nothing is moving. */
export function eta(remaining: number, perSecond: number): number | null {
  if (remaining <= 0) return 0;
  return perSecond > 0 ? remaining / perSecond : null;
}
