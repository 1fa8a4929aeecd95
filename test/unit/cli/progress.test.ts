import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_FILE_BARS, summaryLine, transferLine } from "../../../src/cli/progress.js";
import type { Transfer } from "../../../src/cli/transfers.js";
import { daemonStatus } from "./status-fixture.js";

const MiB = 1024 * 1024;

function transfer(path: string, done: number, size: number, bytesPerSec: number): Transfer {
  return { path, size, done, bytesPerSec, etaSec: bytesPerSec > 0 ? (size - done) / bytesPerSec : null };
}

describe("progress lines", () => {
  it("summary: waiting, syncing with rates and counts, in sync when idle", () => {
    const waiting = daemonStatus({
      peers: [{ address: "10.0.0.7:22001", connected: false, deviceId: null }],
    });
    assert.match(summaryLine(waiting), /^waiting for peers: none of 10\.0\.0\.7:22001 connected/);
    const syncing = summaryLine(daemonStatus());
    assert.match(syncing, /^syncing: 3 entries to go/);
    assert.match(syncing, /in 40\.0 MiB\/s · out 2\.0 KiB\/s · peers 1\/2$/);
    const comparing = summaryLine(daemonStatus({ files: { local: 5, needed: 0 } }));
    assert.match(comparing, /^syncing: comparing indexes/);
    assert.equal(
      summaryLine(daemonStatus({ inSync: true, files: { local: 36, needed: 0 } })),
      "in sync · 36 entries · peers 1/2 · idle",
    );
    const many = Array.from({ length: MAX_FILE_BARS + 2 }, (_, i) => transfer(`f${i}`, 0, MiB, 0));
    assert.match(summaryLine(daemonStatus({ transfers: many })), /· 2 more downloads$/);
  });

  it("file bar: name, bar, percentage, amounts, speed and ETA", () => {
    const line = transferLine(transfer("big.bin", 32 * MiB, 128 * MiB, 16 * MiB));
    assert.match(line, /^ {2}big\.bin +█{5}░{15} +25% {2}32\.0 MiB\/128\.0 MiB {2}16\.0 MiB\/s {2}ETA 6s$/);
    assert.match(transferLine(transfer("x", 0, MiB, 0)), /0% {2}0 B\/1\.0 MiB {2}stalled {2}ETA \?$/);
    const long = transferLine(transfer(`${"deep/".repeat(20)}name.bin`, MiB, MiB, MiB));
    assert.match(long, /^ {2}deep\/deep.*….*name\.bin █{20} 100%/);
  });
});
