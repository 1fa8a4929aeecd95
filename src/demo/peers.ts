/**
 * One `left` daemon of the demo, run as a child process exactly as a user would run it, with JSON log
 * lines (parsed into events for the demo's narration and kept in `demo/<name>.log`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { DaemonStatus } from "../cli/monitor.js";
import { DAEMON_NODE_FLAGS } from "../cli/node-flags.js";

export const LEFT_CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** One parsed log line of a daemon (see src/util/log.ts, JSON format). */
export interface PeerEvent {
  level: string;
  event: string;
  message: string;
  fields: Record<string, unknown>;
}

export interface PeerSpec {
  name: string;
  host: string;
  port: number;
  dir: string;
  /** ip:port of the other peers. */
  peers: string[];
  logFile: string;
}

function parseEvent(line: string): PeerEvent | null {
  try {
    const { level, event, message, time: _time, ...fields } = JSON.parse(line) as Record<string, unknown>;
    if (typeof level !== "string" || typeof event !== "string" || typeof message !== "string") return null;
    return { level, event, message, fields };
  } catch {
    return null;
  }
}

export class DemoPeer {
  private proc: ChildProcess | null = null;
  private log: WriteStream | null = null;
  private exited: Promise<number> = Promise.resolve(0);
  /** Last lines of output, for failure reports. */
  readonly tail: string[] = [];

  constructor(
    readonly spec: PeerSpec,
    private readonly onEvent: (peer: DemoPeer, e: PeerEvent) => void,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  start(): void {
    const { dir, host, port, peers, logFile } = this.spec;
    const args = [LEFT_CLI, "--dir", dir, "--bind", host, "--port", String(port), "--ip", peers.join(",")];
    // Its own process group: a Ctrl-C on the terminal reaches only the demo, which then stops each peer
    // with one SIGTERM (a second signal would make a daemon skip its orderly shutdown).
    const proc = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...args, "--log-format", "json"], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    this.log = createWriteStream(logFile, { flags: "a" });
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
        this.log?.write(`${line}\n`);
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
        const e = parseEvent(line);
        if (e !== null) this.onEvent(this, e);
      });
    }
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.proc = null;
        // The shell convention: 128 + signal number for a process killed by a signal.
        resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
      });
    });
  }

  /** The daemon's status.json, or null while it has none (starting) or it cannot be parsed. */
  async status(): Promise<DaemonStatus | null> {
    try {
      return JSON.parse(await readFile(join(this.spec.dir, ".left", "status.json"), "utf8")) as DaemonStatus;
    } catch {
      return null;
    }
  }

  /** SIGTERM and wait: resolves with the exit code (0 for an orderly shutdown). */
  async stop(): Promise<number> {
    this.proc?.kill("SIGTERM");
    const code = await this.exited;
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
    this.log = null;
    return code;
  }

  /** Last resort when the demo itself is exiting abnormally: never leave a daemon behind. */
  kill(): void {
    this.proc?.kill("SIGKILL");
  }
}
