import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FileEvents } from "../../../src/cli/file-events.js";
import type { LogFields, Logger, LogLevel } from "../../../src/util/log.js";
import { FakeIndex, file, ME } from "./fake-index.js";

interface Line {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

function capture(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    log(level, event, _message, fields = {}) {
      lines.push({ level, event, fields });
    },
  };
}

describe("FileEvents", () => {
  it("logs each entry a peer's change brought here once, local edits at debug only", () => {
    const db = new FakeIndex();
    db.addLocal(file("before-start.txt"));
    const log = capture();
    const events = new FileEvents(db, log);
    events.poll();
    assert.equal(log.lines.length, 0, "what the index held at start is not news");

    db.addLocal(file("docs", { type: "dir" }));
    db.addLocal(file("docs/a.txt", { size: 12 }));
    db.addLocal(file("gone.txt", { deleted: true }));
    db.addLocal(file("mine.txt", { modifiedBy: ME }));
    events.poll();
    events.poll();
    assert.deepEqual(
      log.lines.map((l) => [l.level, l.event, l.fields.path, l.fields.size]),
      [
        ["info", "file.synced", "docs", undefined],
        ["info", "file.synced", "docs/a.txt", 12],
        ["info", "file.removed", "gone.txt", undefined],
        ["debug", "file.local", "mine.txt", undefined],
      ],
    );
    assert.equal(log.lines[1]!.fields.from, "bbbbbbbb", "the author's short device id");
  });
});
