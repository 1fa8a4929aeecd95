/**
 * Anti-replay filter over received packet numbers (the RFC 4303 §3.4.3 sliding window): remembers which
 * of the last `size` packet numbers below the highest one seen have arrived. Packet numbers further
 * back cannot be told apart from replays and are refused; a sender never reuses one, so a refused
 * genuine packet only costs a retransmission under a new number.
 *
 * Receive path: `check(pn)` before opening (cheap drop of duplicates), `commit(pn)` only after the
 * packet authenticated, so that forged packets cannot move the window.
 */
export const DEFAULT_REPLAY_WINDOW = 1024;

export class ReplayWindow {
  readonly size: number;
  /** Bit (pn mod size) is set when pn arrived; ring-indexed so the window slides without shifting. */
  private readonly seen: Uint32Array;
  private highest = -1;

  constructor(size = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) {
      throw new RangeError(`replay window size must be a positive multiple of 32, got ${size}`);
    }
    this.size = size;
    this.seen = new Uint32Array(size / 32);
  }

  /** True if `pn` has not been committed and is recent enough to be checked. Changes nothing. */
  check(pn: number): boolean {
    if (!Number.isSafeInteger(pn) || pn < 0) return false;
    if (pn > this.highest) return true;
    if (this.highest - pn >= this.size) return false;
    const slot = pn % this.size;
    return (this.seen[slot >>> 5] & (1 << (slot & 31))) === 0;
  }

  /** Records `pn` as received, sliding the window forward if it is the newest; ignores refused numbers. */
  commit(pn: number): void {
    if (!this.check(pn)) return;
    if (pn > this.highest) {
      if (pn - this.highest >= this.size) {
        this.seen.fill(0);
      } else {
        // Slots of the numbers skipped over still hold bits from one lap earlier.
        for (let skipped = this.highest + 1; skipped < pn; skipped++) this.clear(skipped % this.size);
      }
      this.highest = pn;
    }
    const slot = pn % this.size;
    this.seen[slot >>> 5] |= 1 << (slot & 31);
  }

  private clear(slot: number): void {
    this.seen[slot >>> 5] &= ~(1 << (slot & 31));
  }
}
