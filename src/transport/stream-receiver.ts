/**
 * Receive side of the ordered stream: reassembles byte ranges that may arrive out of order, duplicated
 * or overlapping, and feeds contiguous bytes to the message assembler. Held-back bytes are views into
 * received datagrams and are bounded by the stream credit (flow-control.ts).
 */
import { CREDIT_UPDATE_FRACTION, STREAM_WINDOW } from "./flow-control.js";
import { MessageAssembler } from "./message-assembler.js";

export type StreamVerdict = "ok" | "violation";

export class StreamReceiver {
  /** Bytes [0, delivered) went to the assembler. */
  private delivered = 0;
  /** Held-back segments above `delivered`: sorted by offset, non-overlapping. */
  private readonly offsets: number[] = [];
  private readonly segments: Uint8Array[] = [];
  /** Highest limit announced to the peer. */
  private announced = STREAM_WINDOW;
  private readonly assembler: MessageAssembler;

  constructor(deliver: (msg: Uint8Array) => void) {
    this.assembler = new MessageAssembler(deliver);
  }

  /** Data beyond the announced credit, or a bad length prefix, is a protocol violation. */
  check(offset: number, length: number): StreamVerdict {
    return offset + length > this.announced ? "violation" : "ok";
  }

  onData(offset: number, data: Uint8Array): StreamVerdict {
    const end = offset + data.length;
    if (end > this.announced) return "violation";
    if (end <= this.delivered) return "ok";
    if (offset < this.delivered) {
      data = data.subarray(this.delivered - offset);
      offset = this.delivered;
    }
    if (offset === this.delivered) {
      if (!this.consume(data)) return "violation";
      return this.drain() ? "ok" : "violation";
    }
    this.hold(offset, data);
    return "ok";
  }

  /** The new limit to announce, or -1 if the peer's credit is still comfortable. */
  creditUpdate(): number {
    const limit = this.delivered + STREAM_WINDOW;
    if (limit - this.announced < STREAM_WINDOW * CREDIT_UPDATE_FRACTION) return -1;
    this.announced = limit;
    return limit;
  }

  get limit(): number {
    return this.announced;
  }

  private consume(data: Uint8Array): boolean {
    this.delivered += data.length;
    return this.assembler.push(data);
  }

  /** Feeds held-back segments that have become contiguous. */
  private drain(): boolean {
    while (this.offsets.length > 0 && this.offsets[0]! <= this.delivered) {
      const offset = this.offsets.shift()!;
      let data = this.segments.shift()!;
      if (offset + data.length <= this.delivered) continue;
      data = data.subarray(this.delivered - offset);
      if (!this.consume(data)) return false;
    }
    return true;
  }

  /** Stores the parts of [offset, offset + data.length) not already held. */
  private hold(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    let i = this.firstEndingAfter(offset);
    let at = offset;
    while (at < end) {
      const nextStart = i < this.offsets.length ? this.offsets[i]! : Number.POSITIVE_INFINITY;
      if (nextStart > at) {
        const pieceEnd = Math.min(end, nextStart);
        this.offsets.splice(i, 0, at);
        this.segments.splice(i, 0, data.subarray(at - offset, pieceEnd - offset));
        i++;
        at = pieceEnd;
      } else {
        at = Math.max(at, nextStart + this.segments[i]!.length);
        i++;
      }
    }
  }

  private firstEndingAfter(x: number): number {
    let lo = 0;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! + this.segments[mid]!.length <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
