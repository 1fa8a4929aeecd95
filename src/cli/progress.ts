/**
 * A one-line progress display for an interactive terminal: entries still to apply, transfer rates and
 * connected peers, with log lines printed above it. Used only when stderr is a TTY and logs are text;
 * otherwise the daemon writes plain log lines (and status.json) only.
 */
import cliProgress from "cli-progress";
import type { Status } from "../sync/status.js";

interface Sample {
  at: number;
  received: number;
  sent: number;
}

function rate(bytes: number, ms: number): string {
  return ms > 0 ? (((bytes / ms) * 1000) / 1e6).toFixed(1) : "0.0";
}

export class Progress {
  private readonly bars: cliProgress.MultiBar;
  private readonly bar: cliProgress.SingleBar;
  /** Largest backlog since the last time everything was in sync: the bar's 100 %. */
  private total = 0;
  private last: Sample | null = null;

  constructor(stream: NodeJS.WriteStream) {
    this.bars = new cliProgress.MultiBar(
      {
        stream,
        format: "{bar} {value}/{total} | in {rx} MB/s | out {tx} MB/s | peers {peers} | {state}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar = this.bars.create(0, 0, { rx: "0.0", tx: "0.0", peers: "0", state: "starting" });
  }

  /** Prints a log line above the bar. */
  log(line: string): void {
    this.bars.log(`${line}\n`);
  }

  update(s: Status): void {
    const now = performance.now();
    const sample = { at: now, received: s.wire.bytesReceived, sent: s.wire.bytesSent };
    const prev = this.last ?? sample;
    this.last = sample;
    this.total = s.inSync ? s.files.needed : Math.max(this.total, s.files.needed);
    this.bar.setTotal(this.total);
    this.bar.update(this.total - s.files.needed, {
      rx: rate(sample.received - prev.received, now - prev.at),
      tx: rate(sample.sent - prev.sent, now - prev.at),
      peers: `${s.peers.filter((p) => p.connected).length}/${s.peers.length}`,
      state: s.inSync ? "in sync" : "syncing",
    });
  }

  stop(): void {
    this.bars.stop();
  }
}
