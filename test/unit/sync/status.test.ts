import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Status, StatusWriter } from "../../../src/sync/status.js";
import { FakeClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { waitFor } from "../../helpers/procs.js";

function status(needed: number): Status {
  return {
    peers: [{ address: "127.0.0.3:22001", connected: needed === 0, deviceId: null }],
    wire: { bytesSent: 1, bytesReceived: 2, packetsSent: 1, packetsRetransmitted: 0 },
    files: { local: 3, needed },
    inSync: needed === 0,
    deviceId: "ab".repeat(16),
    pid: 1,
    updatedAt: new Date(0).toISOString(),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe("StatusWriter", async () => {
  const dir = await mkdtemp(join(tmpdir(), "left-status-"));
  after(() => rm(dir, { recursive: true, force: true }));

  it("rewrites the file on every tick by rename, and once more on stop", async () => {
    const clock = new FakeClock();
    const path = join(dir, "status.json");
    let needed = 5;
    const writer = new StatusWriter(path, () => status(needed), clock, memoryLogger(), 500);
    await writer.write();
    assert.deepEqual(JSON.parse(await readFile(path, "utf8")), status(5));
    writer.start();
    needed = 2;
    clock.advance(500);
    // The tick's write runs on the thread pool: under load it may take many event-loop turns.
    await waitFor(
      "the tick's write",
      async () => JSON.parse(await readFile(path, "utf8")).files.needed === 2,
      5000,
      5,
    );
    needed = 0;
    await writer.stop();
    assert.equal(JSON.parse(await readFile(path, "utf8")).inSync, true);
    assert.deepEqual(await readdir(dir), ["status.json"], "no temporary file is left behind");
    needed = 9;
    clock.advance(5000);
    await settle();
    assert.equal(JSON.parse(await readFile(path, "utf8")).files.needed, 0, "nothing is written after stop");
  });
});
