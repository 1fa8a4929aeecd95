/**
 * Send side of the bulk channel: reliable, unordered messages. Each message keeps its bytes (a
 * reference, never a copy) until every byte is acknowledged; lost ranges are resent ahead of new data,
 * so a lost packet delays only the message it belonged to. A message in a pooled buffer (allocBulk)
 * holds that buffer until then, so the pool cannot reuse it while it may still be resent.
 */
import { bulkHeaderSize } from "../wire/frames.js";
import { type BufferPool, bulkBuffers } from "./bulk-pool.js";
import { BULK_MESSAGE_CHARGE, BULK_WINDOW } from "./flow-control.js";
import { RangeSet } from "./range-set.js";

export class BulkOutbound {
  /** Next byte offset never sent. */
  sent = 0;
  readonly acked = new RangeSet();
  readonly lost = new RangeSet();
  inRetransmitQueue = false;

  constructor(
    readonly id: number,
    readonly data: Uint8Array,
  ) {}

  get complete(): boolean {
    return this.acked.covered === this.data.length;
  }
}

/** Where the next bulk frame comes from; reused between calls to avoid an allocation per packet. */
export interface BulkPick {
  message: BulkOutbound | null;
  offset: number;
  length: number;
  /** The range was sent before and declared lost. */
  retransmit: boolean;
}

export class BulkSender {
  /** Sum of the lengths of messages not yet completely acknowledged (what the high-water mark bounds). */
  retainedBytes = 0;
  /** Cumulative credit the peer granted (see flow-control.ts). */
  limit = BULK_WINDOW;
  /** The next message cannot start for lack of credit (reported to the app-limited logic). */
  creditBlocked = false;

  private nextId = 0;
  private consumedCredit = 0;
  private fresh: BulkOutbound[] = [];
  private freshHead = 0;
  private retransmit: BulkOutbound[] = [];
  private retransmitHead = 0;
  /** Incomplete messages whose buffer is held in the pool, to let go of if the connection ends. */
  private readonly pooled = new Set<BulkOutbound>();

  constructor(private readonly pool: BufferPool = bulkBuffers) {}

  enqueue(data: Uint8Array): BulkOutbound {
    const m = new BulkOutbound(this.nextId++, data);
    this.fresh.push(m);
    this.retainedBytes += data.length;
    if (this.pool.retain(data)) this.pooled.add(m);
    return m;
  }

  /** The connection is over: pooled buffers of unfinished messages are no longer held. */
  dispose(): void {
    for (const m of this.pooled) this.pool.drop(m.data);
    this.pooled.clear();
  }

  /** True if `next` could produce a frame (ignoring packet room). */
  hasData(): boolean {
    this.skipSettledRetransmits();
    if (this.retransmitHead < this.retransmit.length) return true;
    return this.freshHead < this.fresh.length && this.canStart(this.fresh[this.freshHead]!);
  }

  /**
   * Chooses the next range that fits in `room` bytes of frame (header included): lost ranges first,
   * then new data. Returns false if nothing fits or nothing is pending.
   */
  next(room: number, pick: BulkPick): boolean {
    this.skipSettledRetransmits();
    if (this.retransmitHead < this.retransmit.length) {
      const m = this.retransmit[this.retransmitHead]!;
      const start = m.lost.rangeStart(0);
      if (!this.fit(m, start, m.lost.rangeEnd(0) - start, room, pick)) return false;
      m.lost.remove(start, start + pick.length);
      pick.retransmit = true;
      return true;
    }
    if (this.freshHead >= this.fresh.length) return false;
    const m = this.fresh[this.freshHead]!;
    if (m.sent === 0 && !this.canStart(m)) return false;
    if (!this.fit(m, m.sent, m.data.length - m.sent, room, pick)) return false;
    if (m.sent === 0) this.consumedCredit += m.data.length + BULK_MESSAGE_CHARGE;
    m.sent += pick.length;
    pick.retransmit = false;
    if (m.sent === m.data.length) this.advanceFresh();
    return true;
  }

  /** Returns true when this acknowledgement completed the message. */
  onAcked(m: BulkOutbound, offset: number, length: number): boolean {
    if (m.complete) return false;
    m.acked.add(offset, offset + length);
    m.lost.remove(offset, offset + length);
    if (!m.complete) return false;
    this.retainedBytes -= m.data.length;
    if (this.pooled.delete(m)) this.pool.drop(m.data);
    return true;
  }

  onLost(m: BulkOutbound, offset: number, length: number): void {
    if (m.complete) return;
    m.acked.forEachGap(offset, offset + length, (s, e) => m.lost.add(s, e));
    if (!m.inRetransmitQueue && !m.lost.isEmpty()) {
      m.inRetransmitQueue = true;
      this.retransmit.push(m);
    }
  }

  private canStart(m: BulkOutbound): boolean {
    this.creditBlocked = this.consumedCredit + m.data.length + BULK_MESSAGE_CHARGE > this.limit;
    return !this.creditBlocked;
  }

  private fit(m: BulkOutbound, offset: number, available: number, room: number, pick: BulkPick): boolean {
    const header = bulkHeaderSize(m.id, m.data.length, offset, Math.min(available, room));
    const length = Math.min(available, room - header);
    if (length <= 0) return false;
    pick.message = m;
    pick.offset = offset;
    pick.length = length;
    return true;
  }

  private skipSettledRetransmits(): void {
    const q = this.retransmit;
    while (this.retransmitHead < q.length) {
      const m = q[this.retransmitHead]!;
      if (!m.lost.isEmpty() && !m.complete) break;
      m.inRetransmitQueue = false;
      this.retransmitHead++;
    }
    if (this.retransmitHead > 256 && this.retransmitHead * 2 > q.length) {
      this.retransmit = q.slice(this.retransmitHead);
      this.retransmitHead = 0;
    }
  }

  private advanceFresh(): void {
    this.freshHead++;
    if (this.freshHead > 256 && this.freshHead * 2 > this.fresh.length) {
      this.fresh = this.fresh.slice(this.freshHead);
      this.freshHead = 0;
    }
  }
}
