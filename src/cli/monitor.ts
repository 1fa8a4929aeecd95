/**
 * The daemon's view of itself, taken twice a second: the status file's content (the sync layer's Status
 * plus throughput, downloads under way and recent problems) and, as a side effect, the file.synced log
 * lines for what arrived since the last look.
 */
import type { IndexDb } from "../index/db.js";
import type { EngineStatus } from "../sync/engine.js";
import type { Status } from "../sync/status.js";
import type { EndpointStats, PeerAddress } from "../transport/types.js";
import type { Logger } from "../util/log.js";
import { type ChangeFeed, FileEvents } from "./file-events.js";
import type { LoggedProblem } from "./problems.js";
import { RateMeter } from "./rate.js";
import { type Transfer, type TransferIndex, TransferWatch } from "./transfers.js";

/** status.json as this CLI writes it: a superset of the sync layer's Status, so older readers still work. */
export interface DaemonStatus extends Status {
  /** Smoothed over the last seconds: UDP payload bytes per second. */
  throughput: { sentBytesPerSec: number; receivedBytesPerSec: number };
  /** Multi-block downloads under way, largest first. */
  transfers: Transfer[];
  /** The last warnings and errors, oldest first. */
  problems: LoggedProblem[];
}

export interface MonitorSources {
  peers: readonly PeerAddress[];
  engine: { status(): EngineStatus };
  endpoint: {
    stats(): Pick<EndpointStats, "bytesSent" | "bytesReceived" | "packetsSent" | "packetsRetransmitted">;
  };
  db: TransferIndex & ChangeFeed & Pick<IndexDb, "livePaths">;
  problems: () => LoggedProblem[];
  log: Logger;
  /** Monotonic milliseconds (rates). */
  now?: () => number;
}

export class DaemonMonitor {
  private readonly sent = new RateMeter();
  private readonly received = new RateMeter();
  private readonly transfers: TransferWatch;
  private readonly events: FileEvents;
  private readonly now: () => number;
  private countedAt = -1;
  private liveEntries = 0;

  constructor(private readonly src: MonitorSources) {
    this.transfers = new TransferWatch(src.db);
    this.events = new FileEvents(src.db, src.log);
    this.now = src.now ?? (() => performance.now());
  }

  snapshot(): DaemonStatus {
    this.events.poll();
    const now = this.now();
    const s = this.src.engine.status();
    const wire = this.src.endpoint.stats();
    return {
      peers: this.src.peers.map((p) => {
        const address = `${p.host}:${p.port}`;
        const deviceId = s.connected.get(address);
        return { address, connected: deviceId !== undefined, deviceId: deviceId ?? null };
      }),
      wire: {
        bytesSent: wire.bytesSent,
        bytesReceived: wire.bytesReceived,
        packetsSent: wire.packetsSent,
        packetsRetransmitted: wire.packetsRetransmitted,
      },
      files: { local: this.countLive(), needed: s.needed },
      inSync: s.inSync,
      deviceId: this.src.db.deviceId,
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      throughput: {
        sentBytesPerSec: Math.round(this.sent.sample(wire.bytesSent, now)),
        receivedBytesPerSec: Math.round(this.received.sample(wire.bytesReceived, now)),
      },
      transfers: this.transfers.poll(now),
      problems: this.src.problems(),
    };
  }

  /** Live local entries, recounted only when the local index changed (a count walks every path). */
  private countLive(): number {
    const seq = this.src.db.localSequence();
    if (seq !== this.countedAt) {
      this.liveEntries = this.src.db.livePaths().length;
      this.countedAt = seq;
    }
    return this.liveEntries;
  }
}
