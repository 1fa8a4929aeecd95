/**
 * `left status`: reads the status file a running daemon rewrites twice a second in `<share>/.left/` and
 * prints it, raw (--json) or in words. It never talks to the daemon, so it needs no privileges or ports.
 * Exit 0 when the daemon is running, 1 when it is not (or there is no readable status file).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { STATE_DIR } from "../sync/paths.js";
import { STATUS_FILE, type Status } from "../sync/status.js";
import { type CliIo, ExitCode } from "./args.js";
import { formatBytes, formatDuration, formatRate } from "./format.js";
import { processAlive } from "./lock.js";
import type { DaemonStatus } from "./monitor.js";

/** A status older than this means the daemon is gone or hung (it rewrites the file twice a second). */
const STALE_MS = 5000;
/** Downloads listed; the rest are counted. */
const MAX_TRANSFERS = 5;

/** What a status file may hold: files written by an older daemon lack the CLI's additions. */
export type StatusFile = Status & Partial<Pick<DaemonStatus, "throughput" | "transfers" | "problems">>;

function isStatus(value: unknown): value is Status {
  const s = value as Status;
  return (
    typeof s === "object" &&
    s !== null &&
    Array.isArray(s.peers) &&
    s.peers.every((p) => typeof p?.address === "string" && typeof p.connected === "boolean") &&
    typeof s.wire?.bytesSent === "number" &&
    typeof s.wire?.bytesReceived === "number" &&
    typeof s.files?.local === "number" &&
    typeof s.files?.needed === "number" &&
    typeof s.inSync === "boolean" &&
    typeof s.pid === "number" &&
    typeof s.deviceId === "string" &&
    typeof s.updatedAt === "string"
  );
}

/** The CLI's additions, each dropped if malformed rather than failing the whole status. */
function extras(s: StatusFile): Required<Pick<StatusFile, "throughput" | "transfers" | "problems">> | null {
  const t = s.throughput;
  if (typeof t?.sentBytesPerSec !== "number" || typeof t.receivedBytesPerSec !== "number") return null;
  const transfers = Array.isArray(s.transfers)
    ? s.transfers.filter((x) => typeof x?.path === "string" && typeof x.size === "number")
    : [];
  const problems = Array.isArray(s.problems) ? s.problems.filter((p) => typeof p?.message === "string") : [];
  return { throughput: t, transfers, problems };
}

/** Whether the daemon that wrote `s` is still at work: its file is fresh and its process exists. */
export function daemonRunning(s: Status, nowMs: number): boolean {
  return nowMs - Date.parse(s.updatedAt) <= STALE_MS && processAlive(s.pid);
}

function stateLine(s: Status): string {
  const connected = s.peers.filter((p) => p.connected).length;
  if (connected === 0) return "waiting for peers (none connected)";
  if (s.inSync) return `in sync: ${s.files.local} entries, nothing pending`;
  if (s.files.needed === 0) return "syncing: comparing indexes with the peers";
  return `syncing: ${s.files.needed} entries to fetch or apply (${s.files.local} local entries)`;
}

export function formatStatus(dir: string, s: StatusFile, nowMs: number, running: boolean): string {
  const age = Math.max(0, nowMs - Date.parse(s.updatedAt));
  const lines = [`share      ${dir}`];
  if (running) {
    lines.push(`daemon     running, pid ${s.pid}, device ${s.deviceId}`);
    lines.push(`state      ${stateLine(s)}`);
  } else {
    lines.push(
      `daemon     NOT RUNNING: last heard of ${formatDuration(age / 1000)} ago (pid ${s.pid}); ` +
        `start it again with \`left --dir ${dir} --ip …\``,
    );
    lines.push(`state      when last seen: ${stateLine(s)}`);
  }
  const connected = s.peers.filter((p) => p.connected).length;
  lines.push(`peers      ${connected} of ${s.peers.length} connected`);
  for (const p of s.peers) {
    const who = p.deviceId === null ? "" : ` (device ${p.deviceId.slice(0, 8)})`;
    lines.push(`             ${p.address.padEnd(21)} ${p.connected ? "connected" : "not connected"}${who}`);
  }
  const x = extras(s);
  const total = `since start ${formatBytes(s.wire.bytesReceived)} received, ${formatBytes(s.wire.bytesSent)} sent`;
  lines.push(
    x === null
      ? `traffic    ${total}`
      : `traffic    in ${formatRate(x.throughput.receivedBytesPerSec)}, out ${formatRate(x.throughput.sentBytesPerSec)} (${total})`,
  );
  if (x !== null && x.transfers.length > 0) {
    x.transfers.slice(0, MAX_TRANSFERS).forEach((t, i) => {
      const pct = t.size > 0 ? Math.floor((t.done / t.size) * 100) : 100;
      const speed =
        t.bytesPerSec > 0 ? `${formatRate(t.bytesPerSec)}, ETA ${formatDuration(t.etaSec)}` : "stalled";
      lines.push(
        `${i === 0 ? "downloads " : "          "} ${t.path}: ${formatBytes(t.done)} of ${formatBytes(t.size)} (${pct}%), ${speed}`,
      );
    });
    if (x.transfers.length > MAX_TRANSFERS)
      lines.push(`           and ${x.transfers.length - MAX_TRANSFERS} more`);
  }
  if (x !== null && x.problems.length > 0) {
    x.problems.forEach((p, i) => {
      // A repeated problem shows the time of its latest occurrence.
      const times = typeof p.count === "number" && p.count > 1 ? ` (${p.count} times)` : "";
      lines.push(
        `${i === 0 ? "problems  " : "          "} ${p.time} ${p.level.toUpperCase()} ${p.message}${times}`,
      );
    });
  }
  return `${lines.join("\n")}\n`;
}

export async function statusCommand(dir: string, json: boolean, io: CliIo): Promise<number> {
  const path = join(dir, STATE_DIR, STATUS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const hint =
      code === "ENOENT"
        ? `no LEFT daemon has run on ${dir}: start one with \`left --dir ${dir} --ip <peer>\` (or check --dir)`
        : "check the folder's permissions";
    io.err(`error: cannot read ${path} (${code}): ${hint}\n`);
    return ExitCode.Failure;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!isStatus(parsed)) {
    io.err(`error: ${path} is not a LEFT status file: is --dir the share folder?\n`);
    return ExitCode.Failure;
  }
  const now = Date.now();
  const running = daemonRunning(parsed, now);
  io.out(json ? text : formatStatus(dir, parsed, now, running));
  return running ? ExitCode.Ok : ExitCode.Failure;
}
