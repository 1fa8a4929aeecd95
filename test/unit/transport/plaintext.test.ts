import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { plaintextSecurity } from "../../../src/transport/plaintext.js";

const protection = plaintextSecurity.protect("initiator", new Uint8Array(0));

test("no key: empty proofs, and only empty proofs verify", () => {
  assert.equal(plaintextSecurity.encrypted, false);
  assert.equal(plaintextSecurity.prove("initiator", new Uint8Array(8)).length, 0);
  assert.equal(plaintextSecurity.verify("responder", new Uint8Array(8), new Uint8Array(0)), true);
  assert.equal(plaintextSecurity.verify("responder", new Uint8Array(8), new Uint8Array(1)), false);
});

test("seal, the zero-copy trailer and open agree; any flipped bit is rejected", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 20 }),
      fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }),
      (header, parts) => {
        const payload = Buffer.concat(parts);
        const sealed = Buffer.concat(protection.seal(header, 1, parts));
        assert.equal(sealed.length, payload.length + protection.overhead);
        assert.deepEqual(
          Buffer.from(protection.trailer!(header, 1, parts)),
          Buffer.from(sealed.subarray(payload.length)),
        );
        assert.deepEqual(Buffer.from(protection.open(header, 1, sealed)!), payload);
        // As the receive path sees it: header and payload adjacent in one datagram.
        const datagram = Buffer.concat([header, sealed]);
        const opened = protection.open(datagram.subarray(0, 20), 1, datagram.subarray(20));
        assert.deepEqual(Buffer.from(opened!), payload);
      },
    ),
    { numRuns: 200 },
  );
  const header = new Uint8Array(20).fill(1);
  const sealed = Buffer.concat(protection.seal(header, 1, [new Uint8Array(64).fill(2)]));
  for (let bit = 0; bit < (20 + sealed.length) * 8; bit += 7) {
    const h = Uint8Array.from(header);
    const s = Uint8Array.from(sealed);
    if (bit < 160) h[bit >> 3] = h[bit >> 3]! ^ (1 << (bit & 7));
    else s[(bit - 160) >> 3] = s[(bit - 160) >> 3]! ^ (1 << (bit & 7));
    assert.equal(protection.open(h, 1, s), null, `bit ${bit}`);
  }
  assert.equal(protection.open(header, 1, new Uint8Array(7)), null);
});
