/**
 * `<share>/.left/status.json`: the running daemon's state for `left status`, scripts and tests. Written
 * to a temporary name and renamed, so a reader never sees a half-written file.
 */
import { rename, writeFile } from "node:fs/promises";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";

export const STATUS_FILE = "status.json";

export interface PeerStatus {
  /** As configured: ip:port. */
  address: string;
  connected: boolean;
  /** The peer's device id, once it has connected during this run. */
  deviceId: string | null;
}

export interface Status {
  peers: PeerStatus[];
  /** Every UDP payload byte since start. */
  /** Since start; retransmitted packets are also counted in packetsSent (and their bytes in bytesSent). */
  wire: { bytesSent: number; bytesReceived: number; packetsSent: number; packetsRetransmitted: number };
  files: {
    /** Live local entries (files, dirs, links; not tombstones). */
    local: number;
    /** Entries this host still has to fetch or apply. */
    needed: number;
  };
  /**
   * Connected to a peer, every connected peer's index received, nothing needed that a connected peer
   * can provide, and no local change waiting to be hashed or announced.
   */
  inSync: boolean;
  deviceId: string;
  pid: number;
  /** Wall-clock time of this snapshot, ISO 8601. */
  updatedAt: string;
}

/** Rewrites the status file every `intervalMs` (and on demand) from a snapshot function. */
export class StatusWriter {
  private timer: TimerHandle | null = null;
  private writing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => Status,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.write().finally(() => this.schedule());
    }, this.intervalMs);
  }

  /** Writes one snapshot now (waiting for a write already under way rather than racing it). */
  async write(): Promise<void> {
    while (this.writing) await this.writing;
    this.writing = this.writeOnce();
    try {
      await this.writing;
    } finally {
      this.writing = null;
    }
  }

  private async writeOnce(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
      await rename(tmp, this.path);
    } catch (err) {
      this.log.log("warn", "status.write_failed", "cannot write status file", { error: String(err) });
    }
  }

  /** Stops the periodic writes after writing a last snapshot. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.write();
  }
}
