import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bindProblem, errnoCode, shareProblem } from "../../../src/cli/startup-errors.js";

function sysError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something`), { code });
}

describe("start-up errors", () => {
  it("name the flag and say what to change", () => {
    assert.match(
      shareProblem("/srv/x", sysError("ENOTDIR")),
      /^--dir \/srv\/x: a file is in the way .*must name a folder$/,
    );
    assert.match(
      shareProblem("/srv/x", sysError("EACCES")),
      /^--dir \/srv\/x: permission denied \(EACCES\): choose a folder/,
    );
    assert.match(shareProblem("/srv/x", sysError("EROFS")), /read-only file system/);
    assert.match(shareProblem("/srv/x", sysError("ENOSPC")), /no space left/);
    assert.match(
      bindProblem("0.0.0.0", 22001, sysError("EADDRINUSE")),
      /^cannot listen on 0\.0\.0\.0:22001: --port 22001 is already in use/,
    );
    assert.match(
      bindProblem("10.9.9.9", 22001, sysError("EADDRNOTAVAIL")),
      /^cannot listen on 10\.9\.9\.9:22001: --bind 10\.9\.9\.9 is not an address of this host/,
    );
  });

  it("fall back to the system's message for anything else", () => {
    assert.equal(shareProblem("/d", new Error("boom")), "--dir /d: cannot use this folder: boom");
    assert.equal(bindProblem("1.2.3.4", 22001, "odd"), "cannot listen on 1.2.3.4:22001: odd");
    assert.equal(errnoCode(sysError("EIO")), "EIO");
    assert.equal(errnoCode(null), "");
    assert.equal(errnoCode({ code: 5 }), "");
  });
});
