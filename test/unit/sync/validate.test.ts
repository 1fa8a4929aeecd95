import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entryProblem } from "../../../src/sync/validate.js";
import { DEV_A, dir, file, tombstone } from "./fixtures.js";

const v = { [DEV_A]: 1 };

describe("entryProblem", () => {
  it("accepts well-formed files, dirs, links and tombstones", () => {
    assert.equal(entryProblem(file("a/b", v)), null);
    assert.equal(entryProblem(file("empty", v, { size: 0 })), null);
    assert.equal(entryProblem(dir("a", v)), null);
    assert.equal(
      entryProblem(file("a/l", v, { type: "symlink", size: 0, blocks: [], digest: "", target: "../b" })),
      null,
    );
    assert.equal(entryProblem(tombstone("x", v)), null);
  });

  it("rejects bad paths, empty versions and block lists that do not tile the file", () => {
    assert.match(entryProblem(file("../x", v)) ?? "", /dot/);
    assert.match(entryProblem(tombstone(".left/index.db", v)) ?? "", /.left/);
    assert.match(entryProblem(file("a", {})) ?? "", /empty version/);
    assert.match(
      entryProblem(file("a", v, { size: 11, blocks: [{ offset: 0, size: 10, hash: "00".repeat(8) }] })) ?? "",
      /cover 10 of 11/,
    );
    assert.match(entryProblem(file("a", v, { digest: "" })) ?? "", /without digest/);
    assert.match(entryProblem(dir("d", v, { digest: "ab" })) ?? "", /content/);
    const escaping = file("l", v, { type: "symlink", size: 0, blocks: [], digest: "", target: "../../etc" });
    assert.match(entryProblem(escaping) ?? "", /leaves the share/);
    assert.match(entryProblem(dir("d", v, { target: "x" })) ?? "", /link target/);
  });
});
