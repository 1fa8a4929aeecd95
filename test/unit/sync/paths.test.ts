import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { checkParents, linkTargetProblem, pathProblem, UnsafePathError } from "../../../src/sync/paths.js";

describe("pathProblem", () => {
  it("accepts clean relative paths, including unicode and dotfiles", () => {
    for (const ok of ["a", "a/b/c.txt", "é/€ x", ".bashrc", "dir/.left", "a..b", "...", ".leftover"]) {
      assert.equal(pathProblem(ok), null, ok);
    }
  });

  it("rejects escapes, absolute paths, NUL, backslashes and LEFT's own folder", () => {
    const bad: [string, RegExp][] = [
      ["", /empty/],
      ["/etc/passwd", /absolute/],
      ["../x", /dot/],
      ["a/../../x", /dot/],
      ["a/./b", /dot/],
      [".", /dot/],
      ["a//b", /empty path component/],
      ["a/", /empty path component/],
      ["a\0b", /NUL/],
      ["..\\x", /backslash/],
      ["a\\b", /backslash/],
      [".left", /inside .left/],
      [".left/index.db", /inside .left/],
      ["x".repeat(256), /component too long/],
      [`${"d/".repeat(2100)}f`, /path too long/],
    ];
    for (const [path, why] of bad) assert.match(pathProblem(path) ?? "accepted", why, JSON.stringify(path));
  });
});

describe("linkTargetProblem", () => {
  it("accepts relative targets that stay inside the share", () => {
    assert.equal(linkTargetProblem("a/link", "b"), null);
    assert.equal(linkTargetProblem("a/link", "../c/d"), null);
    assert.equal(linkTargetProblem("a/b/link", "../../top"), null);
  });

  it("rejects absolute, escaping and .left targets", () => {
    assert.match(linkTargetProblem("link", "/etc") ?? "", /absolute/);
    assert.match(linkTargetProblem("link", "..") ?? "", /leaves/);
    assert.match(linkTargetProblem("a/link", "../../x") ?? "", /leaves/);
    assert.match(linkTargetProblem("a/link", "../.left/index.db") ?? "", /inside .left/);
    assert.match(linkTargetProblem("link", "a\0") ?? "", /NUL/);
    assert.match(linkTargetProblem("link", "") ?? "", /empty/);
  });
});

describe("checkParents", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-paths-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("creates missing parents as real directories when asked", async () => {
    assert.equal(await checkParents(root, "x/y/z/file", false), false);
    assert.equal(await checkParents(root, "x/y/z/file", true), true);
    assert.ok((await stat(join(root, "x/y/z"))).isDirectory());
  });

  it("refuses to go through a symlinked or non-directory parent", async () => {
    const outside = await mkdtemp(join(tmpdir(), "left-outside-"));
    after(() => rm(outside, { recursive: true, force: true }));
    await mkdir(join(root, "real"));
    await symlink(outside, join(root, "real/evil"));
    await assert.rejects(checkParents(root, "real/evil/file", true), UnsafePathError);
    await writeFile(join(root, "plain"), "x");
    await assert.rejects(checkParents(root, "plain/file", true), UnsafePathError);
  });
});
