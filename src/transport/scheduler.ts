/**
 * Decides when each connection gets to send: a connection with something to do is marked dirty and
 * served at the end of the current event-loop turn (setImmediate), at most `batch` packets at a time; a
 * connection that still has packets ready stays dirty for the next turn. Yielding between batches is
 * essential: `socket.send` completes through nextTick, so a loop that only sends never lets the receive
 * path run (MEASUREMENTS.md: 96–99.9 % loss when a sender starves its own receiver). Since every
 * datagram read in one turn marks its connection dirty, one flush answers them all: that batches ACKs.
 *
 * Each connection also has one timer at its next deadline (ACK delay, loss, probe, pacing, keepalive,
 * idle). The timer is moved only when the deadline gets earlier; waking early is harmless, it re-arms.
 */
import type { Clock, TimerHandle } from "../util/clock.js";

/** The part of a connection the scheduler drives. */
export interface Schedulable {
  readonly open: boolean;
  /** Sends up to `budget` packets; returns 0 (more ready), a pacing time, or Infinity. */
  transmit(now: number, budget: number): number;
  nextDeadline(): number;
  onTimer(now: number): void;
  pacingWakeAt: number;
}

interface ArmedTimer {
  at: number;
  handle: TimerHandle;
}

export class SendScheduler<C extends Schedulable> {
  private readonly dirty = new Set<C>();
  private readonly timers = new Map<C, ArmedTimer>();
  private flushScheduled = false;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly batch: number,
  ) {}

  /** The connection has something to send (or to re-evaluate): serve it at the end of this turn. */
  markDirty(conn: C): void {
    if (this.stopped) return;
    this.dirty.add(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Arms the connection's timer without sending (used right after a connection is created). */
  arm(conn: C): void {
    this.armTimer(conn, this.clock.now());
  }

  forget(conn: C): void {
    this.dirty.delete(conn);
    this.timers.get(conn)?.handle.cancel();
    this.timers.delete(conn);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) timer.handle.cancel();
    this.timers.clear();
    this.dirty.clear();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.stopped) return;
    const now = this.clock.now();
    for (const conn of this.dirty) {
      const next = conn.transmit(now, this.batch);
      if (next !== 0) {
        this.dirty.delete(conn);
        conn.pacingWakeAt = next;
      }
      this.armTimer(conn, now);
    }
    if (this.dirty.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };

  private armTimer(conn: C, now: number): void {
    const at = conn.nextDeadline();
    const current = this.timers.get(conn);
    if (current !== undefined && current.at <= at) return;
    current?.handle.cancel();
    if (at === Number.POSITIVE_INFINITY) {
      this.timers.delete(conn);
      return;
    }
    const handle = this.clock.setTimeout(() => this.onTimer(conn), Math.max(0, at - now));
    this.timers.set(conn, { at, handle });
  }

  private onTimer(conn: C): void {
    this.timers.delete(conn);
    if (!conn.open || this.stopped) return;
    const now = this.clock.now();
    conn.onTimer(now);
    if (conn.open) {
      this.markDirty(conn);
      this.armTimer(conn, now);
    }
  }
}
