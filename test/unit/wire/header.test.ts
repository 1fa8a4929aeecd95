import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/wire/errors.js";
import {
  decodeHeader,
  encodeHeader,
  HEADER_SIZE,
  MAX_DATAGRAM,
  PacketType,
} from "../../../src/wire/header.js";
import { arbHeader, arbMutated } from "./arbitraries.js";

test("decodeHeader(encodeHeader(h)) equals h", () => {
  fc.assert(
    fc.property(arbHeader, (h) => {
      const bytes = encodeHeader(h);
      assert.equal(bytes.length, HEADER_SIZE);
      assert.deepEqual(decodeHeader(bytes), h);
    }),
  );
});

test("the header layout is the documented one", () => {
  const bytes = encodeHeader({ type: PacketType.Data, connectionId: 0x01020304, packetNumber: 0x0a0b0c0d0e });
  assert.deepEqual(
    [...bytes],
    [0x4c, 0x46, 1, 4, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e],
  );
});

function decodeError(bytes: Uint8Array): DecodeError {
  const result = decodeHeader(bytes);
  assert.ok(result instanceof DecodeError, "expected a DecodeError");
  return result;
}

test("each kind of bad header gets its own error kind", () => {
  const good = encodeHeader({ type: PacketType.Data, connectionId: 7, packetNumber: 9 });
  const patched = (at: number, value: number) => {
    const copy = good.slice();
    copy[at] = value;
    return copy;
  };
  assert.equal(decodeError(good.subarray(0, 1)).kind, "truncated");
  assert.equal(decodeError(good.subarray(0, 19)).kind, "truncated");
  assert.equal(decodeError(patched(0, 0x4d)).kind, "bad-magic");
  assert.equal(decodeError(patched(3, 0)).kind, "unknown-type");
  assert.equal(decodeError(patched(3, 6)).kind, "unknown-type");
  assert.equal(decodeError(patched(4, 1)).kind, "bad-value");
  assert.equal(decodeError(patched(6, 1)).kind, "bad-value");
  assert.equal(decodeError(patched(12, 0x01)).kind, "bad-value");
  assert.equal(decodeError(new Uint8Array(MAX_DATAGRAM + 1)).kind, "oversized");
});

test("another protocol version is reported with its number, even in a short datagram", () => {
  const err = decodeError(Uint8Array.from([0x4c, 0x46, 2]));
  assert.equal(err.kind, "unknown-version");
  assert.equal(err.version, 2);
});

test("random and mutated headers never throw", () => {
  const valid = arbHeader.map((h) => encodeHeader(h));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), arbMutated(valid)), (bytes) => {
      const result = decodeHeader(bytes);
      if (!(result instanceof DecodeError))
        assert.deepEqual(encodeHeader(result), bytes.subarray(0, HEADER_SIZE));
    }),
    { numRuns: 2000 },
  );
});
