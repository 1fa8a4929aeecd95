/**
 * Receive side of the bulk channel: collects the fragments of each message in any order and delivers a
 * message exactly once, when its last missing byte arrives. A message carried by a single frame is
 * delivered as a view of the datagram, without a copy; larger ones are reassembled into a buffer from
 * the pool (bulk-pool.ts), handed over to the application with the message.
 */
import { type BufferPool, bulkBuffers } from "./bulk-pool.js";
import { BULK_MESSAGE_CHARGE, BULK_WINDOW, CREDIT_UPDATE_FRACTION } from "./flow-control.js";
import { RangeSet } from "./range-set.js";

export type BulkVerdict = "ok" | "violation";

class BulkInbound {
  readonly received = new RangeSet();
  constructor(readonly data: Uint8Array) {}
}

export class BulkReceiver {
  private readonly partial = new Map<number, BulkInbound>();
  private readonly delivered = new RangeSet();
  /** Credit consumed by every message id seen so far. */
  private consumed = 0;
  /** Credit returned by delivered messages. */
  private released = 0;
  private announced = BULK_WINDOW;

  constructor(
    private readonly deliver: (msg: Uint8Array) => void,
    private readonly pool: BufferPool = bulkBuffers,
  ) {}

  /** Cheap validation before a packet is applied: credit and consistency with what we hold. */
  check(id: number, total: number): BulkVerdict {
    if (this.delivered.has(id)) return "ok";
    const m = this.partial.get(id);
    if (m !== undefined) return m.data.length === total ? "ok" : "violation";
    return this.consumed + total + BULK_MESSAGE_CHARGE > this.announced ? "violation" : "ok";
  }

  onFragment(id: number, total: number, offset: number, data: Uint8Array): BulkVerdict {
    if (this.delivered.has(id)) return "ok";
    let m = this.partial.get(id);
    if (m === undefined) {
      if (this.consumed + total + BULK_MESSAGE_CHARGE > this.announced) return "violation";
      this.consumed += total + BULK_MESSAGE_CHARGE;
      if (offset === 0 && data.length === total) {
        this.complete(id, total, data);
        return "ok";
      }
      // Uninitialised (or previously used) memory is safe: the message is handed out only once every
      // byte of it was written.
      m = new BulkInbound(this.pool.acquire(total));
      this.partial.set(id, m);
    } else if (m.data.length !== total) {
      return "violation";
    }
    if (m.received.add(offset, offset + data.length) > 0) m.data.set(data, offset);
    if (m.received.covered === total) {
      this.partial.delete(id);
      this.pool.deliver(m.data);
      this.complete(id, total, m.data);
    }
    return "ok";
  }

  /** The new cumulative limit to announce, or -1. */
  creditUpdate(): number {
    const limit = this.released + BULK_WINDOW;
    if (limit - this.announced < BULK_WINDOW * CREDIT_UPDATE_FRACTION) return -1;
    this.announced = limit;
    return limit;
  }

  get limit(): number {
    return this.announced;
  }

  /** The connection is over: buffers of messages never completed go back to the pool. */
  dispose(): void {
    for (const m of this.partial.values()) this.pool.drop(m.data);
    this.partial.clear();
  }

  /** Messages partially received (diagnostics and tests). */
  get pendingMessages(): number {
    return this.partial.size;
  }

  private complete(id: number, total: number, data: Uint8Array): void {
    this.delivered.add(id, id + 1);
    this.released += total + BULK_MESSAGE_CHARGE;
    this.deliver(data);
  }
}
