import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { writeVarint } from "../../../src/wire/bytes.js";
import { DecodeError } from "../../../src/wire/errors.js";
import {
  bulkHeaderSize,
  decodeFrames,
  encodeFrames,
  type Frame,
  FrameType,
  frameSize,
  MAX_ACK_RANGES,
  MAX_BULK_MESSAGE,
  streamHeaderSize,
  writeBulkHeader,
  writeStreamHeader,
} from "../../../src/wire/frames.js";
import { arbFrame, arbMutated } from "./arbitraries.js";

test("decodeFrames(encodeFrames(frames)) equals frames", () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 8 }), (frames) => {
      const bytes = encodeFrames(frames);
      assert.equal(
        bytes.length,
        frames.reduce((n, f) => n + frameSize(f), 0),
      );
      assert.deepEqual(decodeFrames(bytes), frames);
    }),
    { numRuns: 500 },
  );
});

test("header-only writers produce what the frame encoder produces", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.nat(), (data, offset, id) => {
      const stream: Frame = { type: FrameType.Stream, offset, data };
      const header = new Uint8Array(streamHeaderSize(offset, data.length));
      assert.equal(writeStreamHeader(header, 0, offset, data.length), header.length);
      assert.deepEqual(encodeFrames([stream]), concat(header, data));
      const total = offset + data.length;
      const bulk: Frame = { type: FrameType.Bulk, messageId: id, totalLength: total, offset, data };
      const bulkHeader = new Uint8Array(bulkHeaderSize(id, total, offset, data.length));
      assert.equal(writeBulkHeader(bulkHeader, 0, id, total, offset, data.length), bulkHeader.length);
      // Bulk totals are bounded; only compare where the frame is valid.
      if (total <= MAX_BULK_MESSAGE) assert.deepEqual(encodeFrames([bulk]), concat(bulkHeader, data));
    }),
  );
});

test("decoded data are views into the payload, not copies", () => {
  const bytes = encodeFrames([{ type: FrameType.Stream, offset: 5, data: Uint8Array.from([1, 2, 3]) }]);
  const frames = decodeFrames(bytes);
  assert.ok(!(frames instanceof DecodeError));
  const frame = frames[0]!;
  assert.equal(frame.type, FrameType.Stream);
  if (frame.type === FrameType.Stream) assert.equal(frame.data.buffer, bytes.buffer);
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function kindOf(bytes: number[] | Uint8Array): string {
  const result = decodeFrames(Uint8Array.from(bytes));
  assert.ok(result instanceof DecodeError, "expected a DecodeError");
  return result.kind;
}

test("malformed frames are typed errors", () => {
  assert.equal(kindOf([]), "bad-length");
  assert.equal(kindOf([0x7f]), "unknown-frame");
  assert.equal(kindOf([FrameType.Stream, 0, 5, 1, 2]), "truncated");
  assert.equal(kindOf([FrameType.Stream, 0, 0]), "bad-length");
  assert.equal(kindOf([FrameType.Bulk, 1, 4, 0, 0]), "bad-length");
  // ACK whose first range reaches below packet 0.
  assert.equal(kindOf([FrameType.Ack, 3, 0, 0, 4]), "bad-value");
  // ACK whose second range would start below 0: largest 3, first length 0, gap 2 -> top -1.
  assert.equal(kindOf([FrameType.Ack, 3, 0, 1, 0, 2, 0]), "bad-value");
  // Bulk fragment past the message end: total 4, offset 2, length 3.
  assert.equal(kindOf([FrameType.Bulk, 1, 4, 2, 3, 9, 9, 9]), "bad-length");
  // Close reason longer than allowed.
  assert.equal(kindOf([FrameType.Close, 0x41, 0x00]), "oversized");
});

test("counts and lengths are bounded before anything is allocated", () => {
  const tooManyRanges = new Uint8Array(16);
  tooManyRanges[0] = FrameType.Ack;
  let p = writeVarint(tooManyRanges, 1, 1000);
  p = writeVarint(tooManyRanges, p, 0);
  writeVarint(tooManyRanges, p, MAX_ACK_RANGES);
  assert.equal(kindOf(tooManyRanges), "oversized");

  const hugeBulk = new Uint8Array(16);
  hugeBulk[0] = FrameType.Bulk;
  p = writeVarint(hugeBulk, 1, 0);
  p = writeVarint(hugeBulk, p, MAX_BULK_MESSAGE + 1);
  assert.equal(kindOf(hugeBulk.subarray(0, p + 2)), "oversized");

  const hugeStream = new Uint8Array(16);
  hugeStream[0] = FrameType.Stream;
  p = writeVarint(hugeStream, 1, 0);
  p = writeVarint(hugeStream, p, 2 ** 40);
  assert.equal(kindOf(hugeStream.subarray(0, p)), "truncated");
});

test("random and mutated payloads never throw", () => {
  const valid = fc.array(arbFrame, { minLength: 1, maxLength: 4 }).map((frames) => encodeFrames(frames));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), arbMutated(valid)), (bytes) => {
      const result = decodeFrames(bytes);
      // Whatever is accepted must be a value the encoder can reproduce (varints may be re-encoded
      // shorter, so compare decoded values, not bytes).
      if (!(result instanceof DecodeError)) assert.deepEqual(decodeFrames(encodeFrames(result)), result);
    }),
    { numRuns: 3000 },
  );
});
