/**
 * Frames carried in the (possibly sealed) payload of a DATA packet. A payload is a sequence of frames,
 * each a u8 type followed by QUIC-style varints (see bytes.ts):
 *
 *   ACK      0x01 largest | ack delay µs | extra range count | first range length | (gap, length)*
 *   STREAM   0x02 offset | length | data          ordered reliable byte stream (control messages)
 *   BULK     0x03 message id | total length | offset | length | data      unordered reliable messages
 *   MAX_DATA 0x04 stream limit | bulk limit       receiver's flow credit
 *   PING     0x05                                 ack-eliciting, no content
 *   CLOSE    0x06 reason length | reason (UTF-8)  authenticated graceful close
 *
 * ACK ranges follow RFC 9000 §19.3: the first range is [largest - length, largest]; each following
 * range ends `gap + 2` below the previous range's smallest packet and spans `length + 1` packets.
 * STREAM and BULK frames always carry data (bulk messages are never empty). Decoded data are views into
 * the payload: no copy on the receive path.
 */
import { ByteReader, MAX_SAFE, varintSize, writeVarint } from "./bytes.js";
import { DecodeError } from "./errors.js";
import { decodeText, encodeBoundedText, MAX_REASON_BYTES } from "./text.js";

export const FrameType = {
  Ack: 0x01,
  Stream: 0x02,
  Bulk: 0x03,
  MaxData: 0x04,
  Ping: 0x05,
  Close: 0x06,
} as const;

/** Most ranges in one ACK frame: enough to describe heavy loss, small enough to decode cheaply. */
export const MAX_ACK_RANGES = 64;
/** Largest bulk message; also what a receiver must be able to buffer for one message. */
export const MAX_BULK_MESSAGE = 16 * 1024 * 1024;

export interface AckRange {
  smallest: number;
  largest: number;
}

export interface AckFrame {
  type: typeof FrameType.Ack;
  /** Time the receiver held the acknowledgement of the largest packet, in microseconds. */
  delayMicros: number;
  /** Descending, disjoint and non-adjacent; never empty. */
  ranges: AckRange[];
}

export interface StreamFrame {
  type: typeof FrameType.Stream;
  offset: number;
  data: Uint8Array;
}

export interface BulkFrame {
  type: typeof FrameType.Bulk;
  messageId: number;
  totalLength: number;
  offset: number;
  data: Uint8Array;
}

export interface MaxDataFrame {
  type: typeof FrameType.MaxData;
  /** Stream offset up to which the sender may send. */
  streamLimit: number;
  /** Cumulative bulk credit (see docs/PROTOCOL.md, flow control). */
  bulkLimit: number;
}

export interface PingFrame {
  type: typeof FrameType.Ping;
}

export interface CloseFrame {
  type: typeof FrameType.Close;
  reason: string;
}

export type Frame = AckFrame | StreamFrame | BulkFrame | MaxDataFrame | PingFrame | CloseFrame;

export function streamHeaderSize(offset: number, length: number): number {
  return 1 + varintSize(offset) + varintSize(length);
}

export function writeStreamHeader(out: Uint8Array, p: number, offset: number, length: number): number {
  out[p] = FrameType.Stream;
  return writeVarint(out, writeVarint(out, p + 1, offset), length);
}

export function bulkHeaderSize(
  messageId: number,
  totalLength: number,
  offset: number,
  length: number,
): number {
  return 1 + varintSize(messageId) + varintSize(totalLength) + varintSize(offset) + varintSize(length);
}

export function writeBulkHeader(
  out: Uint8Array,
  p: number,
  messageId: number,
  totalLength: number,
  offset: number,
  length: number,
): number {
  out[p] = FrameType.Bulk;
  p = writeVarint(out, p + 1, messageId);
  p = writeVarint(out, p, totalLength);
  p = writeVarint(out, p, offset);
  return writeVarint(out, p, length);
}

export function frameSize(frame: Frame): number {
  switch (frame.type) {
    case FrameType.Ack:
      return ackFrameSize(frame);
    case FrameType.Stream:
      return streamHeaderSize(frame.offset, frame.data.length) + frame.data.length;
    case FrameType.Bulk:
      return (
        bulkHeaderSize(frame.messageId, frame.totalLength, frame.offset, frame.data.length) +
        frame.data.length
      );
    case FrameType.MaxData:
      return 1 + varintSize(frame.streamLimit) + varintSize(frame.bulkLimit);
    case FrameType.Ping:
      return 1;
    case FrameType.Close: {
      const length = encodeBoundedText(frame.reason, MAX_REASON_BYTES).length;
      return 1 + varintSize(length) + length;
    }
  }
}

/** Writes one frame (copying STREAM/BULK data) and returns the offset after it. */
export function writeFrame(out: Uint8Array, p: number, frame: Frame): number {
  switch (frame.type) {
    case FrameType.Ack:
      return writeAckFrame(out, p, frame);
    case FrameType.Stream:
      p = writeStreamHeader(out, p, frame.offset, frame.data.length);
      out.set(frame.data, p);
      return p + frame.data.length;
    case FrameType.Bulk:
      p = writeBulkHeader(out, p, frame.messageId, frame.totalLength, frame.offset, frame.data.length);
      out.set(frame.data, p);
      return p + frame.data.length;
    case FrameType.MaxData:
      out[p] = FrameType.MaxData;
      return writeVarint(out, writeVarint(out, p + 1, frame.streamLimit), frame.bulkLimit);
    case FrameType.Ping:
      out[p] = FrameType.Ping;
      return p + 1;
    case FrameType.Close: {
      const text = encodeBoundedText(frame.reason, MAX_REASON_BYTES);
      out[p] = FrameType.Close;
      p = writeVarint(out, p + 1, text.length);
      out.set(text, p);
      return p + text.length;
    }
  }
}

export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += frameSize(f);
  const out = new Uint8Array(size);
  let p = 0;
  for (const f of frames) p = writeFrame(out, p, f);
  return out;
}

export function ackFrameSize(frame: AckFrame): number {
  const ranges = frame.ranges;
  const first = ranges[0]!;
  let size =
    1 +
    varintSize(first.largest) +
    varintSize(frame.delayMicros) +
    varintSize(ranges.length - 1) +
    varintSize(first.largest - first.smallest);
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    size += varintSize(ranges[i - 1]!.smallest - r.largest - 2) + varintSize(r.largest - r.smallest);
  }
  return size;
}

export function writeAckFrame(out: Uint8Array, p: number, frame: AckFrame): number {
  const ranges = frame.ranges;
  if (ranges.length === 0 || ranges.length > MAX_ACK_RANGES) throw new RangeError("bad ACK range count");
  const first = ranges[0]!;
  out[p] = FrameType.Ack;
  p = writeVarint(out, p + 1, first.largest);
  p = writeVarint(out, p, frame.delayMicros);
  p = writeVarint(out, p, ranges.length - 1);
  p = writeVarint(out, p, first.largest - first.smallest);
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    p = writeVarint(out, p, ranges[i - 1]!.smallest - r.largest - 2);
    p = writeVarint(out, p, r.largest - r.smallest);
  }
  return p;
}

/** Decodes a whole payload; any malformed frame rejects the packet, so no frame is applied partially. */
export function decodeFrames(payload: Uint8Array): Frame[] | DecodeError {
  if (payload.length === 0) return new DecodeError("bad-length", "DATA packet without frames");
  const r = new ByteReader(payload);
  const frames: Frame[] = [];
  while (r.remaining > 0) {
    const frame = decodeFrame(r);
    if (frame instanceof DecodeError) return frame;
    frames.push(frame);
  }
  return frames;
}

function decodeFrame(r: ByteReader): Frame | DecodeError {
  const type = r.u8("frame type");
  switch (type) {
    case FrameType.Ack:
      return decodeAck(r);
    case FrameType.Stream: {
      const offset = r.varint("stream offset");
      const length = r.varint("stream length");
      if (r.error) return r.error;
      if (length === 0) return new DecodeError("bad-length", "empty STREAM frame");
      if (offset + length > MAX_SAFE) return new DecodeError("bad-value", "stream offset beyond 2^53");
      const data = r.view(length, "stream data");
      return r.error ?? { type, offset, data };
    }
    case FrameType.Bulk: {
      const messageId = r.varint("message id");
      const totalLength = r.varint("total length");
      const offset = r.varint("bulk offset");
      const length = r.varint("bulk length");
      if (r.error) return r.error;
      if (totalLength > MAX_BULK_MESSAGE)
        return new DecodeError("oversized", `bulk message of ${totalLength} bytes`);
      if (length === 0) return new DecodeError("bad-length", "empty BULK frame");
      if (offset + length > totalLength)
        return new DecodeError("bad-length", "bulk fragment beyond message end");
      const data = r.view(length, "bulk data");
      return r.error ?? { type, messageId, totalLength, offset, data };
    }
    case FrameType.MaxData: {
      const streamLimit = r.varint("stream limit");
      const bulkLimit = r.varint("bulk limit");
      return r.error ?? { type, streamLimit, bulkLimit };
    }
    case FrameType.Ping:
      return r.error ?? { type };
    case FrameType.Close: {
      const length = r.varint("reason length");
      if (r.error) return r.error;
      if (length > MAX_REASON_BYTES) return new DecodeError("oversized", `close reason of ${length} bytes`);
      const text = r.view(length, "reason");
      return r.error ?? { type, reason: decodeText(text) };
    }
    default:
      return r.error ?? new DecodeError("unknown-frame", `frame type 0x${type.toString(16)}`);
  }
}

function decodeAck(r: ByteReader): AckFrame | DecodeError {
  const largest = r.varint("ack largest");
  const delayMicros = r.varint("ack delay");
  const extra = r.varint("ack range count");
  const firstLength = r.varint("ack first range");
  if (r.error) return r.error;
  if (extra > MAX_ACK_RANGES - 1) return new DecodeError("oversized", `${extra + 1} ACK ranges`);
  if (firstLength > largest) return new DecodeError("bad-value", "ACK range below packet 0");
  const ranges: AckRange[] = [{ smallest: largest - firstLength, largest }];
  let smallest = largest - firstLength;
  for (let i = 0; i < extra; i++) {
    const gap = r.varint("ack gap");
    const length = r.varint("ack range length");
    if (r.error) return r.error;
    const top = smallest - gap - 2;
    if (top < 0 || length > top) return new DecodeError("bad-value", "ACK range below packet 0");
    smallest = top - length;
    ranges.push({ smallest, largest: top });
  }
  return { type: FrameType.Ack, delayMicros, ranges };
}
