import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ByteReader, varintSize, writeU64, writeVarint } from "../../../src/wire/bytes.js";
import { arbVarint } from "./arbitraries.js";

test("varint round-trips and uses the shortest RFC 9000 length", () => {
  fc.assert(
    fc.property(arbVarint(), (v) => {
      const buf = new Uint8Array(8);
      const end = writeVarint(buf, 0, v);
      assert.equal(end, varintSize(v));
      const r = new ByteReader(buf, 0, end);
      assert.equal(r.varint("v"), v);
      assert.equal(r.error, null);
      assert.equal(r.remaining, 0);
    }),
  );
});

test("varint boundaries match RFC 9000 sample encodings", () => {
  const cases: [number, number[]][] = [
    [37, [0x25]],
    [15293, [0x7b, 0xbd]],
    [494878333, [0x9d, 0x7f, 0x3e, 0x7d]],
  ];
  for (const [value, bytes] of cases) {
    const buf = new Uint8Array(8);
    assert.deepEqual([...buf.subarray(0, writeVarint(buf, 0, value))], bytes);
    assert.equal(new ByteReader(Uint8Array.from(bytes)).varint("v"), value);
  }
});

test("64-bit fields above 2^53 - 1 are rejected, not rounded", () => {
  const eight = Uint8Array.from([0xc0, 0x20, 0, 0, 0, 0, 0, 0]);
  const r = new ByteReader(eight);
  assert.equal(r.varint("v"), 0);
  assert.equal(r.error?.kind, "bad-value");
  const u64 = Uint8Array.from([0, 0x20, 0, 0, 0, 0, 0, 0]);
  const r2 = new ByteReader(u64);
  r2.u64("pn");
  assert.equal(r2.error?.kind, "bad-value");
  const ok = new Uint8Array(8);
  writeU64(ok, 0, Number.MAX_SAFE_INTEGER);
  assert.equal(new ByteReader(ok).u64("pn"), Number.MAX_SAFE_INTEGER);
});

test("a truncated read sets a sticky error and later reads return 0", () => {
  const r = new ByteReader(Uint8Array.from([0x40]));
  assert.equal(r.varint("first"), 0);
  assert.equal(r.error?.kind, "truncated");
  assert.equal(r.u8("second"), 0);
  assert.match(r.error?.message ?? "", /first/);
});

test("writers refuse values a decoder could not represent", () => {
  const buf = new Uint8Array(8);
  assert.throws(() => writeVarint(buf, 0, -1), RangeError);
  assert.throws(() => writeVarint(buf, 0, 2 ** 53), RangeError);
  assert.throws(() => writeU64(buf, 0, 1.5), RangeError);
});
