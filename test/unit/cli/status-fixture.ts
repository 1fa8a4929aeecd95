/** A DaemonStatus to format, with the fields each test cares about overridden. */
import type { DaemonStatus } from "../../../src/cli/monitor.js";

export function daemonStatus(over: Partial<DaemonStatus> = {}): DaemonStatus {
  return {
    peers: [
      { address: "127.0.0.3:22001", connected: true, deviceId: "ab".repeat(16) },
      { address: "127.0.0.4:22001", connected: false, deviceId: null },
    ],
    wire: {
      bytesSent: 1_500_000,
      bytesReceived: 250 * 1024 * 1024,
      packetsSent: 40,
      packetsRetransmitted: 1,
    },
    files: { local: 12, needed: 3 },
    inSync: false,
    deviceId: "cd".repeat(16),
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    throughput: { sentBytesPerSec: 2048, receivedBytesPerSec: 40 * 1024 * 1024 },
    transfers: [],
    problems: [],
    ...over,
  };
}
