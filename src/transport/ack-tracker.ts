/**
 * Receiver side of acknowledgement: which packet numbers arrived, duplicate suppression, and when an
 * ACK frame is due.
 *
 * ACK policy (RFC 9000 §13.2 in spirit, with a larger threshold as the ACK frequency extension allows):
 * an ACK is sent at the next flush once `ACK_THRESHOLD` ack-eliciting packets are unacknowledged or when
 * a packet arrives out of order (the sender's loss detection needs to hear about gaps at once); fewer
 * in-order packets wait at most `maxAckDelayMs`. The endpoint flushes once per event-loop turn, so all
 * datagrams read in one turn share one ACK. Why not every second packet: each ACK is a datagram, and on
 * this machine a datagram costs 10–30 µs of CPU at each end, as much as a 32 KB data packet; an idle
 * receiver that reads one or two datagrams per turn would otherwise make the sender spend a third of
 * its time reading ACKs.
 *
 * Packet numbers are never reused (retransmitted data travels in new packets), so holes in the received
 * set are permanent. The set is therefore capped: when it has too many ranges the lowest is forgotten
 * and everything below it is treated as a duplicate. Refusing such a late packet is safe: the sender
 * has long declared it lost and resent its frames.
 */
import type { AckFrame, AckRange } from "../wire/frames.js";
import { FrameType } from "../wire/frames.js";
import { RangeSet } from "./range-set.js";

/** Ranges reported per ACK frame: the newest ones, which are the ones the sender still cares about. */
export const ACK_RANGES_PER_FRAME = 32;
/**
 * In-order ack-eliciting packets that make an ACK due. Small against any useful window (a 256-packet
 * window gets 32 ACKs per round trip; the 4-packet minimum is covered by the ACK delay).
 */
export const ACK_THRESHOLD = 8;
const MAX_TRACKED_RANGES = 128;

export class AckTracker {
  private readonly received = new RangeSet();
  /** Packet numbers below this are refused as duplicates (see class comment). */
  private floor = 0;
  private largest = -1;
  private largestReceivedAt = 0;
  private unackedEliciting = 0;
  private immediate = false;
  /** When a lone in-order packet must be acknowledged at the latest (Infinity: nothing pending). */
  private deadline = Number.POSITIVE_INFINITY;

  constructor(private readonly maxAckDelayMs: number) {}

  /** True if `pn` was already received (or is too old to tell): the packet must be dropped unprocessed. */
  isDuplicate(pn: number): boolean {
    return pn < this.floor || this.received.has(pn);
  }

  /** Records an authenticated packet. */
  onPacket(pn: number, ackEliciting: boolean, now: number): void {
    const inOrder = pn === this.largest + 1;
    this.received.add(pn, pn + 1);
    if (pn > this.largest) {
      this.largest = pn;
      this.largestReceivedAt = now;
    }
    while (this.received.rangeCount > MAX_TRACKED_RANGES) {
      this.floor = this.received.rangeEnd(0);
      this.received.dropFirst();
    }
    if (!ackEliciting) return;
    this.unackedEliciting++;
    if (!inOrder || this.unackedEliciting >= ACK_THRESHOLD) this.immediate = true;
    else if (this.deadline === Number.POSITIVE_INFINITY) this.deadline = now + this.maxAckDelayMs;
  }

  /** An ACK should go out at the next flush. */
  get ackDue(): boolean {
    return this.immediate;
  }

  /** Deadline of a delayed ACK, Infinity if none is pending. */
  get ackDeadline(): number {
    return this.immediate ? Number.NEGATIVE_INFINITY : this.deadline;
  }

  /** True when anything was received that the peer has not seen acknowledged in our last ACK. */
  get hasUnacked(): boolean {
    return this.unackedEliciting > 0 || this.immediate;
  }

  /** Builds an ACK frame of the newest ranges (null before anything arrived) and resets the ACK timer. */
  buildFrame(now: number): AckFrame | null {
    const n = this.received.rangeCount;
    if (n === 0) return null;
    const ranges: AckRange[] = [];
    for (let i = n - 1; i >= 0 && ranges.length < ACK_RANGES_PER_FRAME; i--) {
      ranges.push({ smallest: this.received.rangeStart(i), largest: this.received.rangeEnd(i) - 1 });
    }
    this.unackedEliciting = 0;
    this.immediate = false;
    this.deadline = Number.POSITIVE_INFINITY;
    const delayMicros = Math.max(0, Math.round((now - this.largestReceivedAt) * 1000));
    return { type: FrameType.Ack, delayMicros, ranges };
  }

  /** A delayed ACK whose deadline passed becomes due. */
  onTimer(now: number): void {
    if (now >= this.deadline) this.immediate = true;
  }
}
