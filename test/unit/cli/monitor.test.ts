import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DaemonMonitor } from "../../../src/cli/monitor.js";
import type { EngineStatus } from "../../../src/sync/engine.js";
import { memoryLogger } from "../../../src/util/log.js";
import { bigFile, FakeIndex, file, PEER } from "./fake-index.js";

describe("DaemonMonitor", () => {
  it("builds status.json from the engine, the endpoint and the index", () => {
    const db = new FakeIndex();
    db.addLocal(file("a.txt"));
    db.addLocal(file("b.txt", { deleted: true }));
    db.announce(bigFile("big.bin", 4, 1000, "d"));
    db.download("big.bin", "d", [0]);
    const engine: EngineStatus = {
      needed: 2,
      inSync: false,
      connected: new Map([["127.0.0.3:22001", PEER]]),
    };
    const wire = { bytesSent: 0, bytesReceived: 0, packetsSent: 0, packetsRetransmitted: 0 };
    let now = 0;
    const monitor = new DaemonMonitor({
      peers: [
        { host: "127.0.0.3", port: 22001 },
        { host: "127.0.0.4", port: 22001 },
      ],
      engine: { status: () => engine },
      endpoint: { stats: () => wire },
      db,
      problems: () => [{ time: "t", level: "error", event: "e", message: "m", count: 1 }],
      log: memoryLogger(),
      now: () => now,
    });
    monitor.snapshot();
    now = 1000;
    wire.bytesReceived = 5000;
    wire.bytesSent = 100;
    const s = monitor.snapshot();
    assert.deepEqual(s.peers, [
      { address: "127.0.0.3:22001", connected: true, deviceId: PEER },
      { address: "127.0.0.4:22001", connected: false, deviceId: null },
    ]);
    assert.deepEqual(s.files, { local: 1, needed: 2 });
    assert.equal(s.inSync, false);
    assert.equal(s.deviceId, db.deviceId);
    assert.deepEqual(s.throughput, { sentBytesPerSec: 100, receivedBytesPerSec: 5000 });
    assert.deepEqual(
      s.transfers.map((t) => [t.path, t.done, t.size]),
      [["big.bin", 1000, 4000]],
    );
    assert.equal(s.problems.length, 1);
    assert.equal(db.livePathCalls, 1, "entries are recounted only when the index changed");
    db.addLocal(file("c.txt"));
    assert.equal(monitor.snapshot().files.local, 2);
  });
});
