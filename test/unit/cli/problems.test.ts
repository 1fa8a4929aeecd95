import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { problemLog } from "../../../src/cli/problems.js";
import { memoryLogger } from "../../../src/util/log.js";

describe("problemLog", () => {
  it("names the path and the error of a problem", () => {
    const log = problemLog(memoryLogger());
    log.log("warn", "pull.io_error", "cannot write tmp file", { path: "a.bin", error: "ENOSPC" });
    assert.equal(log.recent()[0]!.message, "cannot write tmp file: a.bin (ENOSPC)");
  });

  it("a recurring problem takes one slot, counted, moved to the end", () => {
    const log = problemLog(memoryLogger(), 2);
    log.log("warn", "transport.refused", "peer 127.0.0.4:22001 refused the handshake: wrong key");
    log.log("error", "scan.error", "scan failed");
    log.log("warn", "transport.refused", "peer 127.0.0.4:22001 refused the handshake: wrong key");
    log.log("warn", "transport.refused", "peer 127.0.0.4:22001 refused the handshake: wrong key");
    assert.deepEqual(
      log.recent().map((p) => [p.event, p.count]),
      [
        ["scan.error", 1],
        ["transport.refused", 3],
      ],
    );
  });

  it("forwards every line and keeps the last warnings and errors", () => {
    const inner = memoryLogger();
    const log = problemLog(inner, 2);
    log.log("info", "peer.up", "peer connected");
    log.log("warn", "pull.io_error", "cannot write tmp file", { path: "a.bin", error: "ENOSPC" });
    log.log("error", "scan.error", "scan failed", { path: "dir" });
    log.log("warn", "sync.bad_entry", "peer announced an unacceptable entry");
    assert.equal(inner.records.length, 4);
    assert.equal(problemLog(inner, 1).recent().length, 0);
    const kept = log.recent();
    assert.deepEqual(
      kept.map((p) => [p.level, p.event, p.message]),
      [
        ["error", "scan.error", "scan failed: dir"],
        ["warn", "sync.bad_entry", "peer announced an unacceptable entry"],
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(kept[0]!.time)));
    assert.deepEqual(
      kept.map((p) => p.count),
      [1, 1],
    );
    kept.pop();
    assert.equal(log.recent().length, 2, "recent() returns a copy");
  });
});
