import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/wire/errors.js";
import {
  decodeClosePacket,
  decodeConfirm,
  decodeHandshake,
  encodeClosePacket,
  encodeConfirm,
  encodeHandshake,
  encodeHandshakeFields,
  type HandshakeBody,
  MAX_PROOF_SIZE,
  vetForeignVersion,
} from "../../../src/wire/handshake.js";
import { decodeHeader, HEADER_SIZE, PacketType } from "../../../src/wire/header.js";
import { arbHandshakeBody, arbMutated, withVersion } from "./arbitraries.js";

/** A valid body with every id and nonce zero. */
const ZERO_BODY: HandshakeBody = {
  deviceId: new Uint8Array(16),
  sessionId: new Uint8Array(16),
  nonce: new Uint8Array(32),
  connectionId: 9,
  capabilities: 0,
  encrypted: false,
  maxPacketSize: 1400,
  proof: new Uint8Array(0),
};

test("handshake bodies round-trip inside a checksummed datagram", () => {
  fc.assert(
    fc.property(arbHandshakeBody, fc.constantFrom(PacketType.Init, PacketType.InitAck), (body, type) => {
      const datagram = encodeHandshake(type, 77, 0, body);
      assert.deepEqual(decodeHeader(datagram), { type, connectionId: 77, packetNumber: 0 });
      assert.deepEqual(decodeHandshake(datagram), body);
    }),
    { numRuns: 300 },
  );
});

test("the transcript fields exclude the proof", () => {
  fc.assert(
    fc.property(arbHandshakeBody, fc.uint8Array({ maxLength: 64 }), (body, otherProof) => {
      assert.deepEqual(encodeHandshakeFields(body), encodeHandshakeFields({ ...body, proof: otherProof }));
    }),
    { numRuns: 50 },
  );
});

test("confirm and close round-trip", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: MAX_PROOF_SIZE }),
      fc.string({ maxLength: 60 }),
      (proof, reason) => {
        assert.deepEqual(decodeConfirm(encodeConfirm(5, 0, proof)), proof);
        assert.equal(decodeClosePacket(encodeClosePacket(5, reason)), reason);
      },
    ),
    { numRuns: 200 },
  );
});

test("a long close reason is cut on a character boundary", () => {
  const reason = "é".repeat(200);
  const decoded = decodeClosePacket(encodeClosePacket(1, reason));
  assert.equal(decoded, "é".repeat(127));
});

test("any flipped bit is caught by the checksum or a field check", () => {
  fc.assert(
    fc.property(arbHandshakeBody, fc.nat(), fc.integer({ min: 0, max: 7 }), (body, at, bit) => {
      const datagram = encodeHandshake(PacketType.Init, 0, 0, body);
      const i = HEADER_SIZE + (at % (datagram.length - HEADER_SIZE));
      datagram[i] = datagram[i]! ^ (1 << bit);
      assert.ok(decodeHandshake(datagram) instanceof DecodeError);
    }),
    { numRuns: 300 },
  );
});

test("a foreign version byte is believed only in a datagram whose checksum holds", () => {
  const init = encodeHandshake(PacketType.Init, 0, 0, ZERO_BODY);
  const vetted = (datagram: Uint8Array) => {
    const header = decodeHeader(datagram);
    assert.ok(header instanceof DecodeError);
    return vetForeignVersion(datagram, header);
  };

  const flipped = init.slice();
  flipped[2] = flipped[2]! ^ 0x20;
  const corrupt = vetted(flipped);
  assert.equal(corrupt.kind, "checksum");
  assert.match(corrupt.message, /corrupt datagram: reads as protocol version 33/);

  const genuine = vetted(withVersion(init, 2));
  assert.equal(genuine.kind, "unknown-version");
  assert.equal(genuine.version, 2);

  assert.equal(vetted(Uint8Array.from([0x4c, 0x46, 2])).kind, "checksum", "too short to carry a trailer");
  const other = decodeHeader(Uint8Array.from([0x4d, 0x46, 1]));
  assert.ok(other instanceof DecodeError);
  assert.equal(
    vetForeignVersion(Uint8Array.from([0x4d, 0x46, 1]), other),
    other,
    "other errors pass as they are",
  );
});

function kindOf(result: unknown): string {
  assert.ok(result instanceof DecodeError, "expected a DecodeError");
  return result.kind;
}

test("bad handshake fields are typed errors", () => {
  const body = ZERO_BODY;
  assert.equal(
    kindOf(decodeHandshake(encodeHandshake(PacketType.Init, 0, 0, { ...body, connectionId: 0 }))),
    "bad-value",
  );
  assert.equal(
    kindOf(decodeHandshake(encodeHandshake(PacketType.Init, 0, 0, { ...body, maxPacketSize: 100 }))),
    "bad-value",
  );
  assert.equal(kindOf(decodeHandshake(encodeConfirm(1, 0, new Uint8Array(0)))), "truncated");
  assert.equal(kindOf(decodeConfirm(encodeHandshake(PacketType.Init, 0, 0, body))), "bad-length");
  assert.equal(kindOf(decodeHandshake(new Uint8Array(10))), "truncated");
  assert.throws(() => encodeConfirm(1, 0, new Uint8Array(MAX_PROOF_SIZE + 1)), RangeError);
});

test("random and mutated control packets never throw", () => {
  const valid = fc.oneof(
    arbHandshakeBody.map((b) => encodeHandshake(PacketType.InitAck, 3, 0, b)),
    fc.uint8Array({ maxLength: 40 }).map((p) => encodeConfirm(3, 0, p)),
    fc.string({ maxLength: 40 }).map((r) => encodeClosePacket(3, r)),
  );
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), arbMutated(valid)), (bytes) => {
      // A throw fails the property; accepted values must have the documented shape.
      const body = decodeHandshake(bytes);
      if (!(body instanceof DecodeError)) assert.equal(body.nonce.length, 32);
      const proof = decodeConfirm(bytes);
      if (!(proof instanceof DecodeError)) assert.ok(proof.length <= MAX_PROOF_SIZE);
      const reason = decodeClosePacket(bytes);
      if (!(reason instanceof DecodeError)) assert.equal(typeof reason, "string");
    }),
    { numRuns: 2000 },
  );
});
