/**
 * How the demo talks: on a terminal, narration plus live bars (one per receiving peer) with log-style
 * lines above them; elsewhere (CI, a pipe, a test) the same narration and a plain progress line per peer
 * at most once a second.
 */
import cliProgress from "cli-progress";
import { formatBytes, formatDuration, formatRate, wrapToWidth } from "../cli/format.js";

export interface PeerProgress {
  name: string;
  /** Sample bytes this peer has: complete files plus the verified part of downloads. */
  bytes: number;
  total: number;
  bytesPerSec: number;
  etaSec: number | null;
  /** Entries the peer still has to fetch or apply (its status.json). */
  pending: number;
  done: boolean;
}

export interface DemoView {
  /** Progress is drawn live in place (a terminal), rather than printed as lines. */
  readonly live: boolean;
  say(text: string): void;
  progress(rows: readonly PeerProgress[]): void;
  /** The progress display is over: what follows is narration again. */
  endProgress(): void;
}

const BAR_WIDTH = 24;

function progressText(p: PeerProgress, bar: boolean): string {
  const fraction = p.total > 0 ? Math.min(1, p.bytes / p.total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const drawn = bar ? `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)} ` : "";
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const amount = `${formatBytes(p.bytes)}/${formatBytes(p.total)}`;
  const tail = p.done
    ? "complete"
    : `${formatRate(p.bytesPerSec)}  ETA ${formatDuration(p.etaSec)}  ${p.pending} ${p.pending === 1 ? "entry" : "entries"} to go`;
  return `  ${p.name}  ${drawn}${pct}  ${amount}  ${tail}`;
}

interface Line {
  text: string;
}

export class TerminalView implements DemoView {
  readonly live = true;
  private bars: cliProgress.MultiBar | null = null;
  private readonly rows = new Map<string, cliProgress.SingleBar>();

  constructor(private readonly stream: NodeJS.WriteStream) {}

  say(text: string): void {
    const wrapped = `${wrapToWidth(text, this.stream.columns - 1)}\n`;
    if (this.bars) this.bars.log(wrapped);
    else this.stream.write(wrapped);
  }

  progress(rows: readonly PeerProgress[]): void {
    this.bars ??= new cliProgress.MultiBar({
      stream: this.stream,
      hideCursor: true,
      fps: 8,
      format: (_o: cliProgress.Options, params: cliProgress.Params, payload: Line) =>
        payload.text.slice(0, Math.max(1, params.maxWidth - 1)),
    });
    for (const p of rows) {
      const line: Line = { text: progressText(p, true) };
      const bar = this.rows.get(p.name);
      if (bar === undefined) this.rows.set(p.name, this.bars.create(1, 0, line));
      else bar.update(line);
    }
  }

  endProgress(): void {
    // Stopping redraws the bars once more and leaves them on screen: the final state stays readable.
    this.bars?.update();
    this.bars?.stop();
    this.bars = null;
    this.rows.clear();
  }
}

export class PlainView implements DemoView {
  readonly live = false;
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly last = new Map<string, string>();

  constructor(
    private readonly write: (text: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  say(text: string): void {
    this.write(`${text}\n`);
  }

  progress(rows: readonly PeerProgress[]): void {
    const now = performance.now();
    const due = now - this.lastAt >= this.intervalMs;
    for (const p of rows) {
      const text = progressText(p, false);
      // A peer that just finished is reported at once; the others at most once per interval.
      if ((due || p.done) && this.last.get(p.name) !== text) {
        this.write(`${text}\n`);
        this.last.set(p.name, text);
      }
    }
    if (due) this.lastAt = now;
  }

  endProgress(): void {
    this.last.clear();
  }
}
