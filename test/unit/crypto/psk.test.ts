import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AEAD_BACKENDS, AEAD_TAG_LENGTH, type AeadBackend } from "../../../src/crypto/aead.js";
import { PROOF_LENGTH, pskSecurity } from "../../../src/crypto/psk.js";
import type { PacketProtection } from "../../../src/transport/types.js";

const masterKey = randomBytes(32);
const otherKey = randomBytes(32);
const transcript = randomBytes(90);
const header = randomBytes(20);
const payload = randomBytes(1000);

function flip(data: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(data);
  copy[index] ^= 0x80;
  return copy;
}

function connect(backend: AeadBackend, t: Uint8Array = transcript) {
  const initiator = pskSecurity(masterKey, backend).protect("initiator", t);
  const responder = pskSecurity(masterKey, backend).protect("responder", t);
  return { initiator, responder };
}

/** The sealed bytes as they travel: seal returns them in parts (ciphertext, tag). */
const seal = (p: PacketProtection, pn: number, payload: Uint8Array, h = header) =>
  Buffer.concat(p.seal(h, pn, [payload]));

const opened = (p: PacketProtection, pn: number, sealed: Uint8Array, h = header) => {
  const plain = p.open(h, pn, sealed);
  return plain === null ? null : new Uint8Array(plain);
};

describe("pskSecurity proofs", () => {
  const ours = pskSecurity(masterKey);

  it("verify with the same key, for the role that made them", () => {
    const theirs = pskSecurity(Uint8Array.from(masterKey));
    for (const role of ["initiator", "responder"] as const) {
      const proof = theirs.prove(role, transcript);
      assert.equal(proof.length, PROOF_LENGTH);
      assert.equal(ours.verify(role, transcript, proof), true);
    }
  });

  it("fail with a different key", () => {
    const stranger = pskSecurity(otherKey);
    assert.equal(ours.verify("responder", transcript, stranger.prove("responder", transcript)), false);
  });

  it("fail for a modified transcript, a reflected role, or a truncated proof", () => {
    const proof = ours.prove("responder", transcript);
    assert.equal(ours.verify("responder", flip(transcript, 40), proof), false);
    assert.equal(ours.verify("initiator", transcript, proof), false);
    assert.equal(ours.verify("responder", transcript, proof.subarray(0, 16)), false);
    assert.equal(ours.verify("responder", transcript, new Uint8Array(0)), false);
  });

  it("announces encryption and rejects a master key of the wrong size", () => {
    assert.equal(ours.encrypted, true);
    assert.throws(() => pskSecurity(new Uint8Array(16)), RangeError);
  });
});

for (const backend of AEAD_BACKENDS) {
  describe(`pskSecurity packet protection (${backend})`, () => {
    it("round-trips in both directions with a 16-byte overhead", () => {
      const { initiator, responder } = connect(backend);
      assert.equal(initiator.overhead, AEAD_TAG_LENGTH);
      const sealed = seal(initiator, 0, payload);
      assert.equal(sealed.length, payload.length + initiator.overhead);
      assert.deepEqual(opened(responder, 0, sealed), new Uint8Array(payload));
      assert.deepEqual(opened(initiator, 7, seal(responder, 7, payload)), new Uint8Array(payload));
    });

    it("uses a different key per direction", () => {
      const { initiator, responder } = connect(backend);
      const fromInitiator = seal(initiator, 1, payload);
      const fromResponder = seal(responder, 1, payload);
      assert.notDeepEqual(new Uint8Array(fromInitiator), new Uint8Array(fromResponder));
      // A packet reflected back to its sender does not open.
      assert.equal(initiator.open(header, 1, fromInitiator), null);
      assert.equal(responder.open(header, 1, fromResponder), null);
    });

    it("derives fresh keys for every transcript", () => {
      const first = connect(backend);
      const second = connect(backend, flip(transcript, 0));
      assert.equal(second.responder.open(header, 0, seal(first.initiator, 0, payload)), null);
    });

    it("refuses forged packets: changed payload, header, packet number, or another key", () => {
      const { initiator, responder } = connect(backend);
      const sealed = seal(initiator, 42, payload);
      assert.equal(responder.open(header, 42, flip(sealed, 3)), null);
      assert.equal(responder.open(header, 42, flip(sealed, sealed.length - 1)), null);
      assert.equal(responder.open(flip(header, 19), 42, sealed), null);
      assert.equal(responder.open(header, 43, sealed), null);
      assert.equal(responder.open(header, 42 + 2 ** 32, sealed), null);
      assert.equal(responder.open(header, -1, sealed), null);
      const stranger = pskSecurity(otherKey, backend).protect("responder", transcript);
      assert.equal(stranger.open(header, 42, sealed), null);
      assert.deepEqual(opened(responder, 42, sealed), new Uint8Array(payload));
    });

    it("never seals twice under one packet number", () => {
      const { initiator } = connect(backend);
      seal(initiator, 5, payload);
      assert.throws(() => seal(initiator, 5, payload), RangeError);
      assert.throws(() => seal(initiator, 4, payload), RangeError);
      assert.throws(() => seal(initiator, 2 ** 53, payload), RangeError);
      assert.ok(seal(initiator, 2 ** 53 - 1, payload).length > 0);
    });
  });
}

describe("pskSecurity across backends", () => {
  it("a native sender and a noble receiver interoperate", () => {
    const initiator = pskSecurity(masterKey, "native").protect("initiator", transcript);
    const responder = pskSecurity(masterKey, "noble").protect("responder", transcript);
    const pn = 2 ** 40 + 3;
    assert.deepEqual(opened(responder, pn, seal(initiator, pn, payload)), new Uint8Array(payload));
  });
});

describe("pskSecurity wire construction (docs/SECURITY.md), recomputed with @noble/hashes", () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);
  const concat = (a: Uint8Array, b: Uint8Array) => Uint8Array.from([...a, ...b]);

  it("proof = HMAC-SHA256(HKDF(K, no salt, proof-key info), role label ‖ transcript)", () => {
    const proofKey = hkdf(sha256, masterKey, undefined, utf8("left v1 handshake proof key"), 32);
    const expected = hmac(sha256, proofKey, concat(utf8("left v1 initiator proof"), transcript));
    assert.deepEqual(new Uint8Array(pskSecurity(masterKey).prove("initiator", transcript)), expected);
  });

  it("packet = ChaCha20-Poly1305(HKDF(K, SHA-256(transcript), direction), 0⁴ ‖ u64be(pn), AAD = header)", () => {
    const key = hkdf(sha256, masterKey, sha256(transcript), utf8("left v1 responder->initiator"), 32);
    const pn = 2 ** 40 + 0x01020304;
    const nonce = Uint8Array.from([0, 0, 0, 0, 0, 0, 0x01, 0, 0x01, 0x02, 0x03, 0x04]);
    const expected = chacha20poly1305(key, nonce, header).encrypt(payload);
    const sealed = seal(pskSecurity(masterKey).protect("responder", transcript), pn, payload);
    assert.deepEqual(new Uint8Array(sealed), expected);
  });
});
