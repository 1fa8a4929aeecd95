/** fast-check generators of valid wire values, shared by the codec property tests. */
import { crc32 } from "node:zlib";
import fc from "fast-check";
import type { AckFrame, AckRange, Frame } from "../../../src/wire/frames.js";
import { FrameType, MAX_ACK_RANGES, MAX_BULK_MESSAGE } from "../../../src/wire/frames.js";
import type { HandshakeBody } from "../../../src/wire/handshake.js";
import { MAX_PROOF_SIZE, MIN_PACKET_SIZE } from "../../../src/wire/handshake.js";
import { MAX_DATAGRAM, type PacketHeader, PacketType } from "../../../src/wire/header.js";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Integers biased towards the varint length boundaries, where encoding bugs live. */
export const arbVarint = (max = MAX_SAFE): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 0, max: Math.min(max, 70) }),
    fc.constantFrom(63, 64, 16383, 16384, 0x3fff_ffff, 0x4000_0000, MAX_SAFE).filter((v) => v <= max),
    fc.integer({ min: 0, max: Math.min(max, 0xffff_ffff) }),
    fc.double({ min: 0, max, noNaN: true }).map((d) => Math.floor(d)),
  );

export const arbHeader: fc.Arbitrary<PacketHeader> = fc.record(
  {
    type: fc.constantFrom(...Object.values(PacketType)),
    connectionId: fc.integer({ min: 0, max: 0xffff_ffff }),
    packetNumber: arbVarint(),
  },
  { noNullPrototype: true },
);

const arbData = fc.uint8Array({ minLength: 1, maxLength: 300 });

export const arbAckFrame: fc.Arbitrary<AckFrame> = fc
  .record({
    largest: arbVarint(),
    firstLength: arbVarint(1000),
    rest: fc.array(fc.tuple(arbVarint(1000), arbVarint(1000)), { maxLength: MAX_ACK_RANGES - 1 }),
    delayMicros: arbVarint(),
  })
  .map(({ largest, firstLength, rest, delayMicros }) => {
    const ranges: AckRange[] = [{ smallest: Math.max(0, largest - firstLength), largest }];
    for (const [gap, length] of rest) {
      const top = ranges[ranges.length - 1]!.smallest - gap - 2;
      if (top - length < 0) break;
      ranges.push({ smallest: top - length, largest: top });
    }
    return { type: FrameType.Ack, delayMicros, ranges };
  });

export const arbFrame: fc.Arbitrary<Frame> = fc.oneof(
  arbAckFrame,
  fc
    .record({ offset: arbVarint(MAX_SAFE - 300), data: arbData })
    .map(({ offset, data }) => ({ type: FrameType.Stream, offset, data })),
  fc
    .record({
      messageId: arbVarint(),
      data: arbData,
      before: fc.integer({ min: 0, max: MAX_BULK_MESSAGE - 300 }),
      after: fc.integer({ min: 0, max: 1000 }),
    })
    .map(({ messageId, data, before, after }) => ({
      type: FrameType.Bulk,
      messageId,
      totalLength: Math.min(MAX_BULK_MESSAGE, before + data.length + after),
      offset: before,
      data,
    })),
  fc
    .record({ streamLimit: arbVarint(), bulkLimit: arbVarint() })
    .map(({ streamLimit, bulkLimit }) => ({ type: FrameType.MaxData, streamLimit, bulkLimit })),
  fc.constant({ type: FrameType.Ping }),
  fc.string({ unit: "grapheme-ascii", maxLength: 255 }).map((reason) => ({ type: FrameType.Close, reason })),
);

const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

export const arbHandshakeBody: fc.Arbitrary<HandshakeBody> = fc.record(
  {
    deviceId: bytesOf(16),
    sessionId: bytesOf(16),
    nonce: bytesOf(32),
    connectionId: fc.integer({ min: 1, max: 0xffff_ffff }),
    capabilities: fc.integer({ min: 0, max: 0xffff_ffff }),
    encrypted: fc.boolean(),
    maxPacketSize: fc.integer({ min: MIN_PACKET_SIZE, max: MAX_DATAGRAM }),
    proof: fc.uint8Array({ maxLength: MAX_PROOF_SIZE }),
  },
  { noNullPrototype: true },
);

/** Byte-level damage to a valid encoding: flips, overwrites, truncation, extension, splices. */
export function arbMutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ maxLength: 16 }) }),
  );
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 6 })).map(([bytes, edits]) => {
    let out = bytes.slice();
    for (const e of edits) {
      if (e.kind === "append") {
        const grown = new Uint8Array(out.length + e.bytes.length);
        grown.set(out);
        grown.set(e.bytes, out.length);
        out = grown;
      } else if (out.length > 0) {
        const at = e.at % out.length;
        if (e.kind === "flip") out[at] = out[at]! ^ (1 << e.bit);
        else if (e.kind === "set") out[at] = e.value;
        else out = out.subarray(0, at);
      }
    }
    return out;
  });
}

/**
 * A copy of control packet `datagram` as a peer speaking protocol `version` would send it: version byte
 * changed and the CRC-32 trailer recomputed, so that only the version differs from an intact packet.
 */
export function withVersion(datagram: Uint8Array, version: number): Uint8Array {
  const out = datagram.slice();
  out[2] = version;
  const end = out.length - 4;
  new DataView(out.buffer).setUint32(end, crc32(out.subarray(0, end)));
  return out;
}
