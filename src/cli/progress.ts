/**
 * The live view on an interactive terminal: a summary line (peers, entries to go, rates; one line when
 * idle) and below it one bar per file being downloaded, with speed and ETA. Log lines are printed above.
 * Used only when stderr is a TTY and logs are text; otherwise the daemon writes log lines only.
 */
import cliProgress from "cli-progress";
import { fitMiddle, formatBytes, formatDuration, formatRate, wrapToWidth } from "./format.js";
import type { DaemonStatus } from "./monitor.js";
import type { Transfer } from "./transfers.js";

/** File bars shown at once; more downloads are counted in the summary line. */
export const MAX_FILE_BARS = 4;
const BAR_WIDTH = 20;
const NAME_WIDTH = 28;

function drawBar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

/** The top line: what the daemon is doing, in words a newcomer understands. */
export function summaryLine(s: DaemonStatus): string {
  const connected = s.peers.filter((p) => p.connected).length;
  const peers = `peers ${connected}/${s.peers.length}`;
  if (connected === 0) {
    return `waiting for peers: none of ${s.peers.map((p) => p.address).join(", ")} connected yet`;
  }
  if (s.inSync) return `in sync · ${s.files.local} entries · ${peers} · idle`;
  const more =
    s.transfers.length > MAX_FILE_BARS ? ` · ${s.transfers.length - MAX_FILE_BARS} more downloads` : "";
  const work = s.files.needed > 0 ? `${s.files.needed} entries to go` : "comparing indexes";
  const { receivedBytesPerSec: rx, sentBytesPerSec: tx } = s.throughput;
  return `syncing: ${work} · in ${formatRate(rx)} · out ${formatRate(tx)} · ${peers}${more}`;
}

/** `  name  ████░░░░  45%  57.6/128.0 MiB  120.3 MiB/s  ETA 1s` */
export function transferLine(t: Transfer): string {
  const fraction = t.size > 0 ? t.done / t.size : 1;
  const name = fitMiddle(t.path, NAME_WIDTH).padEnd(NAME_WIDTH);
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const amount = `${formatBytes(t.done)}/${formatBytes(t.size)}`;
  const speed = t.bytesPerSec > 0 ? formatRate(t.bytesPerSec) : "stalled";
  return `  ${name} ${drawBar(fraction, BAR_WIDTH)} ${pct}  ${amount}  ${speed}  ETA ${formatDuration(t.etaSec)}`;
}

interface Line {
  text: string;
}

/** Each bar prints its payload's line, cut to the terminal's width (a wrapped line breaks the redraw). */
function printLine(_options: cliProgress.Options, params: cliProgress.Params, payload: Line): string {
  return params.maxWidth > 0 ? payload.text.slice(0, params.maxWidth - 1) : payload.text;
}

export class Progress {
  private readonly bars: cliProgress.MultiBar;
  private readonly summary: cliProgress.SingleBar;
  /** By path, in the order they are shown. */
  private readonly files = new Map<string, cliProgress.SingleBar>();

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.bars = new cliProgress.MultiBar({
      stream,
      format: printLine,
      hideCursor: true,
      clearOnComplete: true,
      // Redrawing costs main-thread time that belongs to the socket: 5 frames a second are enough to read.
      fps: 5,
    });
    this.summary = this.bars.create(1, 0, { text: "starting…" } satisfies Line);
  }

  /** Prints a log line above the bars. */
  log(line: string): void {
    this.bars.log(`${wrapToWidth(line, this.stream.columns - 1)}\n`);
  }

  update(s: DaemonStatus): void {
    this.summary.update({ text: summaryLine(s) } satisfies Line);
    const shown = s.transfers.slice(0, MAX_FILE_BARS);
    const keep = new Set(shown.map((t) => t.path));
    for (const [path, bar] of this.files) {
      if (keep.has(path)) continue;
      this.bars.remove(bar);
      this.files.delete(path);
    }
    for (const t of shown) {
      const line: Line = { text: transferLine(t) };
      const bar = this.files.get(t.path);
      if (bar === undefined) this.files.set(t.path, this.bars.create(1, 0, line));
      else bar.update(line);
    }
  }

  /** Prints the log lines still waiting for the next frame, then removes the bars. */
  stop(): void {
    this.bars.update();
    this.bars.stop();
  }
}
