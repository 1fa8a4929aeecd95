/**
 * What a daemon prints when nobody watches a terminal: one log line per event (peer up, file synced,
 * file removed), JSON with --log-format json, no progress bars or escape codes; its status.json with
 * throughput, downloads and problems; and `left status` on it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { DaemonStatus } from "../../src/cli/monitor.js";
import {
  freePort,
  LEFT_CLI,
  LeftProcess,
  waitFor,
  waitForSameTrees,
  writeRandomFile,
} from "../helpers/procs.js";

const MiB = 1024 * 1024;

interface LogLine {
  time: string;
  level: string;
  event: string;
  message: string;
  [field: string]: unknown;
}

function jsonLines(p: LeftProcess): LogLine[] {
  return p
    .log()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LogLine);
}

describe("left without a terminal", { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "left-cli-output-"));
  const hosts = ["127.0.7.2", "127.0.7.3"];
  const port = await freePort(hosts);
  const A = new LeftProcess({
    name: "A",
    dir: join(root, "A"),
    host: hosts[0]!,
    port,
    peers: [`${hosts[1]}:${port}`],
  });
  const B = new LeftProcess({
    name: "B",
    dir: join(root, "B"),
    host: hosts[1]!,
    port,
    peers: [`${hosts[0]}:${port}`],
    args: ["--log-format", "json"],
  });
  after(async () => {
    await Promise.all([A.stop(), B.stop()]);
    await rm(root, { recursive: true, force: true });
  });

  it("logs one line per event (JSON with --log-format json), never bars", async () => {
    A.start();
    B.start();
    await writeRandomFile(join(A.dir, "big.bin"), 24 * MiB);
    await mkdir(join(A.dir, "docs"), { recursive: true });
    await writeFile(join(A.dir, "docs", "note.txt"), "hello\n");
    await waitForSameTrees([A, B], 60_000);
    await waitFor(
      "B to log every arrival",
      () => jsonLines(B).filter((l) => l.event === "file.synced").length >= 3,
      10_000,
    );

    const lines = jsonLines(B);
    for (const l of lines)
      assert.ok(typeof l.time === "string" && typeof l.level === "string" && typeof l.message === "string");
    const synced = new Map(lines.filter((l) => l.event === "file.synced").map((l) => [l.path, l]));
    assert.deepEqual([...synced.keys()].sort(), ["big.bin", "docs", "docs/note.txt"]);
    assert.equal(synced.get("big.bin")!.size, 24 * MiB);
    assert.equal(synced.get("docs")!.type, "dir");
    assert.ok(
      lines.some((l) => l.event === "peer.up"),
      "peer up is an event",
    );

    // Text format, not a terminal: plain lines, no cursor movement or bar characters.
    assert.ok(!A.log().includes("\u001b["), "no escape sequences");
    assert.doesNotMatch(A.log(), /[█░]/);
    assert.match(A.log(), /INFO {2}LEFT running/);

    await rm(join(A.dir, "docs", "note.txt"));
    await waitFor(
      "B to log the removal",
      () => jsonLines(B).some((l) => l.event === "file.removed" && l.path === "docs/note.txt"),
      20_000,
    );
  });

  it("keeps status.json with throughput, downloads and problems, and `left status` reads it", async () => {
    const status = (await B.status()) as DaemonStatus | null;
    assert.ok(status !== null);
    assert.equal(typeof status.throughput.receivedBytesPerSec, "number");
    assert.ok(Array.isArray(status.transfers));
    assert.ok(Array.isArray(status.problems));
    assert.ok(status.wire.bytesReceived >= 24 * MiB, "the big file crossed the wire");
    await waitFor("B in sync", async () => (await B.status())?.inSync === true, 20_000);
    const r = spawnSync(process.execPath, [LEFT_CLI, "status", "--dir", B.dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /state {6}in sync: \d+ entries, nothing pending/);
    assert.match(r.stdout, new RegExp(`${hosts[0]!.replaceAll(".", "\\.")}:${port} +connected`));
  });
});
