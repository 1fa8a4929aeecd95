import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fitMiddle, formatBytes, formatDuration, formatRate, wrapToWidth } from "../../../src/cli/format.js";

describe("format", () => {
  it("prints sizes in binary units with one decimal", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1.0 KiB");
    assert.equal(formatBytes(128 * 1024 * 1024), "128.0 MiB");
    assert.equal(formatBytes(1.5 * 1024 ** 3), "1.5 GiB");
    assert.equal(formatBytes(-5), "0 B");
    assert.equal(formatRate(2.5 * 1024 * 1024), "2.5 MiB/s");
  });

  it("prints durations short, and ? when unknown", () => {
    assert.equal(formatDuration(0.4), "0s");
    assert.equal(formatDuration(59.4), "59s");
    assert.equal(formatDuration(65), "1m05s");
    assert.equal(formatDuration(2 * 3600 + 7 * 60 + 30), "2h07m");
    assert.equal(formatDuration(null), "?");
    assert.equal(formatDuration(Number.POSITIVE_INFINITY), "?");
  });

  it("elides the middle of long paths so both ends stay visible", () => {
    assert.equal(fitMiddle("short.txt", 20), "short.txt");
    const fitted = fitMiddle("photos/2026/01/a-very-long-file-name.jpg", 20);
    assert.equal(fitted.length, 20);
    assert.ok(fitted.startsWith("photos/2"));
    assert.ok(fitted.endsWith("name.jpg"));
    assert.ok(fitted.includes("…"));
  });

  it("wraps long lines into indented pieces that each fit, losing nothing", () => {
    const line = "x".repeat(50) + "y".repeat(50);
    const wrapped = wrapToWidth(line, 40).split("\n");
    assert.ok(wrapped.every((l) => l.length <= 40));
    assert.equal(wrapped.map((l, i) => (i === 0 ? l : l.slice(4))).join(""), line);
    assert.ok(wrapped.slice(1).every((l) => l.startsWith("    ")));
    assert.equal(wrapToWidth("a\nb", 40), "a\nb");
    const words =
      "INFO  LEFT running dir=/srv/share listen=0.0.0.0:22001 device=0123456789abcdef encrypted=false";
    assert.deepEqual(wrapToWidth(words, 40).split("\n"), [
      "INFO  LEFT running dir=/srv/share",
      "    listen=0.0.0.0:22001",
      "    device=0123456789abcdef",
      "    encrypted=false",
    ]);
    assert.equal(wrapToWidth(line, 0), line, "an unknown width leaves the text alone");
  });
});
