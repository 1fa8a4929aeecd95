/**
 * Send side of the ordered message stream. Messages are framed as u32 length + bytes and appended to a
 * byte stream; the stream keeps references to the caller's buffers (small messages are copied together
 * with their prefix) until the bytes are acknowledged. Lost ranges are resent before new bytes.
 */
import { streamHeaderSize } from "../wire/frames.js";
import { MAX_MESSAGE, STREAM_WINDOW } from "./flow-control.js";
import { RangeSet } from "./range-set.js";

/** Messages up to this size are copied next to their length prefix: one stream chunk instead of two. */
const COALESCE_LIMIT = 1024;

export interface StreamPick {
  offset: number;
  length: number;
  /** The range was sent before and declared lost. */
  retransmit: boolean;
}

export class StreamSender {
  /** Cumulative offset the peer allows us to send below. */
  limit = STREAM_WINDOW;
  private chunks: Uint8Array[] = [];
  private chunkStarts: number[] = [];
  private head = 0;
  private written = 0;
  private sent = 0;
  private readonly acked = new RangeSet();
  private readonly lost = new RangeSet();

  write(msg: Uint8Array): void {
    if (msg.length > MAX_MESSAGE) throw new RangeError(`message of ${msg.length} bytes is too large`);
    if (msg.length <= COALESCE_LIMIT) {
      const chunk = new Uint8Array(4 + msg.length);
      new DataView(chunk.buffer).setUint32(0, msg.length);
      chunk.set(msg, 4);
      this.push(chunk);
      return;
    }
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, msg.length);
    this.push(prefix);
    this.push(msg);
  }

  /** Bytes written but not yet acknowledged. */
  get unacked(): number {
    return this.written - this.ackedPrefix();
  }

  hasData(): boolean {
    return !this.lost.isEmpty() || (this.sent < this.written && this.sent < this.limit);
  }

  /** The next range that fits in `room` bytes of frame (header included): lost bytes first. */
  next(room: number, pick: StreamPick): boolean {
    const retransmit = !this.lost.isEmpty();
    const offset = retransmit ? this.lost.rangeStart(0) : this.sent;
    const available = retransmit
      ? this.lost.rangeEnd(0) - offset
      : Math.min(this.written, this.limit) - offset;
    if (available <= 0) return false;
    const header = streamHeaderSize(offset, Math.min(available, room));
    const length = Math.min(available, room - header);
    if (length <= 0) return false;
    if (retransmit) this.lost.remove(offset, offset + length);
    else this.sent += length;
    pick.offset = offset;
    pick.length = length;
    pick.retransmit = retransmit;
    return true;
  }

  /** Copies stream bytes [offset, offset + length) into `out` at `at`. */
  copy(offset: number, length: number, out: Uint8Array, at: number): void {
    let i = this.chunkIndex(offset);
    let from = offset;
    const end = offset + length;
    while (from < end) {
      const chunk = this.chunks[i]!;
      const start = this.chunkStarts[i]!;
      const to = Math.min(chunk.length, end - start);
      out.set(chunk.subarray(from - start, to), at);
      at += to - (from - start);
      from = start + to;
      i++;
    }
  }

  onAcked(offset: number, length: number): void {
    this.acked.add(offset, offset + length);
    this.lost.remove(offset, offset + length);
    const prefix = this.ackedPrefix();
    while (
      this.head < this.chunks.length &&
      this.chunkStarts[this.head]! + this.chunks[this.head]!.length <= prefix
    ) {
      this.head++;
    }
    if (this.head > 256 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.chunkStarts = this.chunkStarts.slice(this.head);
      this.head = 0;
    }
  }

  onLost(offset: number, length: number): void {
    this.acked.forEachGap(offset, offset + length, (s, e) => this.lost.add(s, e));
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.chunkStarts.push(this.written);
    this.written += chunk.length;
  }

  private ackedPrefix(): number {
    return this.acked.rangeCount > 0 && this.acked.rangeStart(0) === 0 ? this.acked.rangeEnd(0) : 0;
  }

  /** Index of the retained chunk containing stream offset `offset`. */
  private chunkIndex(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunkStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
