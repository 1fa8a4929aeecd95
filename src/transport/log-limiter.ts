/**
 * Remembers when each kind of log line was last written, so that a flood of bad datagrams produces a
 * handful of lines instead of one per datagram. Bounded: when too many keys accumulate they are all
 * forgotten, which at worst repeats a line.
 */
const MAX_KEYS = 4096;

export class LogLimiter {
  private readonly last = new Map<string, number>();

  /** True if `key` was not logged within the last `intervalMs` (Infinity: only ever once). */
  allow(key: string, now: number, intervalMs: number): boolean {
    const previous = this.last.get(key);
    if (previous !== undefined && now - previous < intervalMs) return false;
    if (this.last.size >= MAX_KEYS) this.last.clear();
    this.last.set(key, now);
    return true;
  }
}
