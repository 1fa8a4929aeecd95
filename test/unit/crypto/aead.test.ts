import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AEAD_BACKENDS, AEAD_TAG_LENGTH, type Aead, createAead } from "../../../src/crypto/aead.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const range = (first: number, length: number) => Uint8Array.from({ length }, (_, i) => first + i);

// RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1 share key, AAD and plaintext.
const vectorKey = range(0x80, 32);
const vectorAad = hex("50515253c0c1c2c3c4c5c6c7");
const vectorPlaintext = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const vectors = [
  {
    name: "ChaCha20-Poly1305 (RFC 8439 §2.8.2)",
    nonce: hex("07000000 4041424344454647"),
    sealed:
      hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
      1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a
      9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`),
  },
  {
    name: "XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §A.3.1)",
    nonce: range(0x40, 24),
    sealed:
      hex(`bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39
      ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637d
      a9768812f615c68b13b52e c0875924c1c7987947deafd8780acf49`),
  },
];

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const aeadCase = fc.record({
  key: bytes(32, 32),
  nonce: fc.oneof(bytes(12, 12), bytes(24, 24)),
  plaintext: bytes(0, 2000),
  aad: bytes(0, 64),
});

function flip(data: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(data);
  copy[index % copy.length] ^= 1;
  return copy;
}

/** The sealed bytes: seal takes the plaintext and returns ciphertext and tag in parts. */
function sealed(
  aead: Aead,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  parts: readonly Uint8Array[] = [plaintext],
): Uint8Array {
  const out = aead.seal(nonce, parts, aad);
  assert.equal(out.at(-1)!.length, AEAD_TAG_LENGTH);
  const bytes = Buffer.concat(out);
  assert.equal(bytes.length, plaintext.length + AEAD_TAG_LENGTH);
  return bytes;
}

/** `data` cut at the given offsets (sorted, clamped): consecutive parts, some possibly empty. */
function cut(data: Uint8Array, at: number[]): Uint8Array[] {
  const offsets = [0, ...at.map((a) => a % (data.length + 1)).sort((x, y) => x - y), data.length];
  return offsets.slice(1).map((end, i) => data.subarray(offsets[i], end));
}

describe("AEAD known-answer vectors", () => {
  for (const backend of AEAD_BACKENDS) {
    for (const v of vectors) {
      it(`${backend}: ${v.name}`, () => {
        const aead = createAead(backend, vectorKey);
        assert.deepEqual(new Uint8Array(sealed(aead, v.nonce, vectorPlaintext, vectorAad)), v.sealed);
        assert.deepEqual(new Uint8Array(aead.open(v.nonce, v.sealed, vectorAad)!), vectorPlaintext);
      });
    }
  }
});

describe("native and noble backends", () => {
  it("produce byte-identical output and open each other's", () => {
    fc.assert(
      fc.property(aeadCase, ({ key, nonce, plaintext, aad }) => {
        const native = createAead("native", key);
        const noble = createAead("noble", key);
        const fromNative = sealed(native, nonce, plaintext, aad);
        const fromNoble = sealed(noble, nonce, plaintext, aad);
        assert.equal(fromNative.length, plaintext.length + AEAD_TAG_LENGTH);
        assert.deepEqual(new Uint8Array(fromNative), new Uint8Array(fromNoble));
        assert.deepEqual(new Uint8Array(noble.open(nonce, fromNative, aad)!), plaintext);
        assert.deepEqual(new Uint8Array(native.open(nonce, fromNoble, aad)!), plaintext);
      }),
      { numRuns: 300 },
    );
  });

  it("seal a plaintext given in parts to the same bytes as given whole", () => {
    fc.assert(
      fc.property(aeadCase, fc.array(fc.nat(), { maxLength: 5 }), ({ key, nonce, plaintext, aad }, at) => {
        for (const backend of AEAD_BACKENDS) {
          const aead = createAead(backend, key);
          const whole = sealed(aead, nonce, plaintext, aad);
          assert.deepEqual(sealed(aead, nonce, plaintext, aad, cut(plaintext, at)), whole);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("refuse a flipped bit in ciphertext, tag, AAD or nonce", () => {
    fc.assert(
      fc.property(aeadCase, fc.nat(), ({ key, nonce, plaintext, aad }, at) => {
        for (const backend of AEAD_BACKENDS) {
          const aead = createAead(backend, key);
          const bytes = sealed(aead, nonce, plaintext, aad);
          const tagStart = plaintext.length;
          if (plaintext.length > 0) assert.equal(aead.open(nonce, flip(bytes, at % tagStart), aad), null);
          const tagged = flip(bytes, tagStart + (at % AEAD_TAG_LENGTH));
          assert.equal(aead.open(nonce, tagged, aad), null);
          if (aad.length > 0) assert.equal(aead.open(nonce, bytes, flip(aad, at)), null);
          assert.equal(aead.open(flip(nonce, at), bytes, aad), null);
          assert.equal(aead.open(nonce, bytes.subarray(0, bytes.length - 1), aad), null);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("refuse output of a different key", () => {
    const nonce = new Uint8Array(12);
    for (const backend of AEAD_BACKENDS) {
      const bytes = sealed(createAead(backend, range(0, 32)), nonce, range(0, 100), new Uint8Array(0));
      assert.equal(createAead(backend, range(1, 32)).open(nonce, bytes, new Uint8Array(0)), null);
    }
  });

  it("treat input shorter than a tag as forged, and bad sizes as programming errors", () => {
    for (const backend of AEAD_BACKENDS) {
      const aead = createAead(backend, range(0, 32));
      assert.equal(
        aead.open(new Uint8Array(12), new Uint8Array(AEAD_TAG_LENGTH - 1), new Uint8Array(0)),
        null,
      );
      assert.throws(() => aead.seal(new Uint8Array(16), [new Uint8Array(1)], new Uint8Array(0)), RangeError);
      assert.throws(() => aead.open(new Uint8Array(8), new Uint8Array(32), new Uint8Array(0)), RangeError);
      assert.throws(() => createAead(backend, new Uint8Array(16)), RangeError);
    }
  });
});
