import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeMessage,
  encodeHello,
  encodeIndex,
  encodeRequest,
  encodeResponse,
  MAX_BLOCK_BYTES,
  MAX_BLOCKS,
  MAX_INDEX_BATCH,
  MAX_RUN_BLOCKS,
  type Message,
  MessageType,
  PROTOCOL_VERSION,
  RESPONSE_HEADER_BYTES,
  ResponseStatus,
  writeResponseHeader,
} from "../../../src/sync/protocol.js";
import { DecodeError } from "../../../src/wire/errors.js";
import { announcedArb } from "./delta-fixtures.js";
import { DEV_A, decodeOk, digestOf, file, hexArb, pathArb, rejects } from "./fixtures.js";

const helloArb = fc.record({
  deviceId: hexArb(16),
  since: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  full: fc.boolean(),
});
const indexArb = fc.record({
  files: fc.array(announcedArb, { maxLength: 5 }),
  complete: fc.boolean(),
  reply: fc.boolean(),
});
const requestArb = fc.record({
  reqId: fc.integer({ min: 0, max: 0xffffffff }),
  path: pathArb,
  digest: hexArb(32),
  offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  blocks: fc.array(
    fc
      .tuple(fc.integer({ min: 1, max: MAX_BLOCK_BYTES >> 4 }), hexArb(8))
      .map(([size, hash]) => ({ size, hash })),
    {
      minLength: 1,
      maxLength: 16,
    },
  ),
});

/** Every valid message, encoded. */
const encodedArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  helloArb.map((h) => encodeHello(h.deviceId, h.since, h.full)),
  indexArb.map((i) => encodeIndex(i.files, i.complete, i.reply)),
  requestArb.map((r) => encodeRequest(r)),
  fc.uint8Array({ maxLength: 64 }).map((d) => encodeResponse(7, ResponseStatus.Ok, d)),
  fc.uint8Array({ maxLength: 64 }).map((d) => encodeResponse(8, ResponseStatus.Compressed, d)),
  fc.constant(encodeResponse(9, ResponseStatus.Unavailable, new Uint8Array(0))),
);

function encode(m: Message): Uint8Array {
  switch (m.type) {
    case MessageType.Hello:
      return encodeHello(m.deviceId, m.since, m.full);
    case MessageType.Index:
      return encodeIndex(m.files, m.complete, m.reply);
    case MessageType.Request:
      return encodeRequest(m);
    case MessageType.Response:
      return encodeResponse(m.reqId, m.status, m.data);
  }
}

describe("sync protocol codecs", () => {
  it("round-trips HELLO", () => {
    fc.assert(
      fc.property(helloArb, (h) => {
        assert.deepEqual(decodeOk(encodeHello(h.deviceId, h.since, h.full)), {
          type: MessageType.Hello,
          ...h,
        });
      }),
    );
  });

  it("round-trips INDEX batches of arbitrary entries, block lists in full or as deltas", () => {
    fc.assert(
      fc.property(indexArb, (i) => {
        assert.deepEqual(decodeOk(encodeIndex(i.files, i.complete, i.reply)), {
          type: MessageType.Index,
          ...i,
        });
      }),
    );
  });

  it("round-trips REQUEST", () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        assert.deepEqual(decodeOk(encodeRequest(r)), { type: MessageType.Request, ...r });
      }),
    );
  });

  it("round-trips RESPONSE, and the in-place header matches encodeResponse", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 300 }),
        (reqId, data) => {
          const encoded = encodeResponse(reqId, ResponseStatus.Ok, data);
          const decoded = decodeOk(encoded);
          assert.equal(decoded.type, MessageType.Response);
          assert.equal(decoded.reqId, reqId);
          assert.deepEqual(Buffer.from(decoded.data), Buffer.from(data));
          const inPlace = new Uint8Array(RESPONSE_HEADER_BYTES + data.byteLength);
          inPlace.set(data, RESPONSE_HEADER_BYTES);
          writeResponseHeader(inPlace, reqId, ResponseStatus.Ok);
          assert.deepEqual(inPlace, encoded);
        },
      ),
    );
  });

  it("never throws on mutated or truncated input; what decodes is canonical", () => {
    fc.assert(
      fc.property(
        encodedArb,
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
        fc.nat(),
        (bytes, flips, cut) => {
          const mutated = Uint8Array.from(bytes);
          for (const [at, value] of flips) if (mutated.length > 0) mutated[at % mutated.length] = value;
          const decoded = decodeMessage(mutated);
          // Whatever decodes is canonical: it re-encodes to exactly the bytes it came from.
          if (!(decoded instanceof DecodeError))
            assert.deepEqual(Buffer.from(encode(decoded)), Buffer.from(mutated));
          // A RESPONSE's data runs to the end of the message, so only its header has a fixed length.
          const fixed = bytes[0] === MessageType.Response ? RESPONSE_HEADER_BYTES : bytes.length;
          const truncated = bytes.subarray(0, cut % fixed);
          assert.ok(decodeMessage(truncated) instanceof DecodeError, "a strict prefix never decodes");
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("rejects hostile counts before allocating", () => {
    const header = Buffer.from(encodeIndex([file("a", { [DEV_A]: 1 })], true));
    // Claim 4 billion blocks in a message of a few dozen bytes.
    const blockCountAt = header.length - (4 + 12 + 1 + 32 + 2);
    header.writeUInt32BE(0xffffffff, blockCountAt);
    rejects(header, /4294967295 blocks/);
    header.writeUInt32BE(1_000_000, blockCountAt);
    rejects(header, /block list beyond message end/);
  });

  it("bounds a REQUEST's run: 1 to MAX_RUN_BLOCKS blocks of at most MAX_BLOCK_BYTES together", () => {
    const ask = (blocks: { size: number; hash: string }[]) =>
      Buffer.from(encodeRequest({ reqId: 1, path: "a", digest: digestOf("x"), offset: 0, blocks }));
    const block = (size: number) => ({ size, hash: "ab".repeat(8) });
    const most = Array.from({ length: MAX_RUN_BLOCKS }, () => block(MAX_BLOCK_BYTES / MAX_RUN_BLOCKS));
    assert.equal(decodeOk(ask(most)).type, MessageType.Request);
    rejects(ask([]), /request of 0 blocks/);
    rejects(ask([...most, block(1)]), new RegExp(`request of ${MAX_RUN_BLOCKS + 1} blocks`));
    rejects(ask([block(MAX_BLOCK_BYTES), block(1)]), /request size 8388609/);
    rejects(ask([block(0)]), /request size 0/);
    // A count claiming more entries than the message holds is refused before anything is read.
    const short = ask([block(1)]);
    short.writeUInt16BE(1000, short.length - 14);
    rejects(short, /truncated|need/);
  });

  it("bounds the blocks of one INDEX message in all its entries together, and decodes the maximum", () => {
    const blocksOf = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => ({
        offset: i * 4096,
        size: 4096,
        hash: (seed * 2 ** 32 + i).toString(16).padStart(16, "0"),
      }));
    const entry = (path: string, n: number, seed: number) =>
      file(path, { [DEV_A]: 1 }, { size: n * 4096, blocks: blocksOf(n, seed) });
    const half = MAX_BLOCKS / 2;
    const full = [entry("a", half, 1), entry("b", half, 2)];
    const started = performance.now();
    const decoded = decodeOk(encodeIndex(full, true));
    const ms = performance.now() - started;
    assert.equal(decoded.type, MessageType.Index);
    assert.deepEqual(decoded.files, full);
    // Generous: the point is that a maximal message costs about a second, not a minute.
    assert.ok(ms < 5000, `decoding ${MAX_BLOCKS} blocks took ${ms.toFixed(0)} ms`);
    // One block more, in two entries that are each within the per-file limit: spliced by hand, because
    // encodeIndex refuses to build it.
    const a = encodeIndex([entry("a", half, 1)], true);
    const b = encodeIndex([entry("b", half + 1, 2)], true);
    const joined = Buffer.concat([Uint8Array.of(MessageType.Index, 1, 0, 2), a.subarray(4), b.subarray(4)]);
    rejects(joined, /524289 blocks, limit 524288/);
    assert.throws(() => encodeIndex([...full, entry("c", 1, 3)], true), RangeError, "a local bug");
  });

  it("rejects unknown types, versions, flags and out-of-range fields", () => {
    rejects(Uint8Array.of(99), /message type 99/);
    rejects(new Uint8Array(0), /message type/);
    const hello = Buffer.from(encodeHello(DEV_A, 5));
    hello[1] = PROTOCOL_VERSION + 1;
    rejects(hello, new RegExp(`sync protocol version ${PROTOCOL_VERSION + 1}`));
    hello[1] = PROTOCOL_VERSION;
    hello[hello.length - 1] = 2;
    rejects(hello, /hello flags 2/);
    const bigSince = Buffer.from(encodeHello(DEV_A, 0));
    bigSince.writeUInt32BE(0xffffffff, 18);
    rejects(bigSince, /exceeds 2\^53/);
    const failure = Buffer.from(encodeResponse(1, ResponseStatus.Ok, Uint8Array.of(1)));
    failure[5] = ResponseStatus.Unavailable;
    rejects(failure, /data in a failure response/);
    const badMode = file("a", { [DEV_A]: 1 }, { mode: 0o7777 });
    const enc = Buffer.from(encodeIndex([badMode], false));
    const modeAt = enc.indexOf(Buffer.from([0x0f, 0xff]));
    enc.writeUInt16BE(0o10000, modeAt);
    rejects(enc, /mode/);
    const flagsAt = Buffer.from(encodeIndex([], true, true));
    flagsAt[1] = 4;
    rejects(flagsAt, /index flags 4/);
  });

  it("rejects invalid UTF-8 in paths and trailing garbage", () => {
    const req = Buffer.from(
      encodeRequest({
        reqId: 1,
        path: "ab",
        digest: digestOf("x"),
        offset: 0,
        blocks: [{ size: 1, hash: "00".repeat(8) }],
      }),
    );
    req[7] = 0xff;
    rejects(req, /UTF-8/);
    const withTail = Buffer.concat([encodeHello(DEV_A, 1), Buffer.of(0)]);
    rejects(withTail, /trailing/);
  });

  it("refuses to encode oversized batches and malformed ids (local bugs, not peer input)", () => {
    const files = Array.from({ length: MAX_INDEX_BATCH + 1 }, (_, i) => file(`f${i}`, { [DEV_A]: 1 }));
    assert.throws(() => encodeIndex(files, true), RangeError);
    assert.throws(() => encodeHello("xyz", 0), RangeError);
    assert.throws(() => encodeHello(DEV_A.toUpperCase().replace(/A/g, "g"), 0), RangeError);
  });
});
