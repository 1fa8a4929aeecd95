import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { VersionVector } from "../../../src/index/types.js";
import { bumpVersion, compareVersions, mergeVersions, type Ordering } from "../../../src/index/version.js";

const device = fc.constantFrom("aa", "bb", "cc", "dd");
const vector: fc.Arbitrary<VersionVector> = fc.dictionary(device, fc.integer({ min: 0, max: 5 }));

const mirror: Record<Ordering, Ordering> = {
  equal: "equal",
  greater: "lesser",
  lesser: "greater",
  concurrent: "concurrent",
};

test("compareVersions is antisymmetric", () => {
  fc.assert(fc.property(vector, vector, (a, b) => compareVersions(b, a) === mirror[compareVersions(a, b)]));
});

test("a missing device counts as zero", () => {
  assert.equal(compareVersions({ aa: 1, bb: 0 }, { aa: 1 }), "equal");
  assert.equal(compareVersions({}, { aa: 1 }), "lesser");
  assert.equal(compareVersions({ aa: 2 }, { bb: 1 }), "concurrent");
});

test("mergeVersions dominates or equals both inputs", () => {
  fc.assert(
    fc.property(vector, vector, (a, b) => {
      const m = mergeVersions(a, b);
      for (const v of [a, b]) assert.ok(["greater", "equal"].includes(compareVersions(m, v)));
    }),
  );
});

test("bumpVersion yields a strictly greater version, above everything seen", () => {
  fc.assert(
    fc.property(vector, device, (v, d) => {
      const bumped = bumpVersion(v, d);
      assert.equal(compareVersions(bumped, v), "greater");
      assert.ok(Object.values(v).every((c) => bumped[d] > c));
    }),
  );
});

test("independent edits of one version are concurrent; merging and bumping resolves them", () => {
  const base = bumpVersion({}, "aa");
  const left = bumpVersion(base, "aa");
  const right = bumpVersion(base, "bb");
  assert.equal(compareVersions(left, right), "concurrent");
  const resolved = bumpVersion(mergeVersions(left, right), "bb");
  assert.equal(compareVersions(resolved, left), "greater");
  assert.equal(compareVersions(resolved, right), "greater");
});
