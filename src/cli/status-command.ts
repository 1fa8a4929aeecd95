/**
 * `left status`: reads the status file a running daemon keeps in `<share>/.left/` and prints it, raw
 * (--json) or as a short summary. It never talks to the daemon, so it works without privileges or ports.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { STATE_DIR } from "../sync/paths.js";
import { STATUS_FILE, type Status } from "../sync/status.js";
import { type CliIo, ExitCode } from "./args.js";

/** A status older than this means the daemon is gone (it rewrites the file twice a second). */
const STALE_MS = 5000;

function isStatus(value: unknown): value is Status {
  const s = value as Status;
  return (
    typeof s === "object" &&
    s !== null &&
    Array.isArray(s.peers) &&
    typeof s.wire?.bytesSent === "number" &&
    typeof s.wire?.bytesReceived === "number" &&
    typeof s.files?.local === "number" &&
    typeof s.files?.needed === "number" &&
    typeof s.inSync === "boolean"
  );
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function formatStatus(dir: string, s: Status, nowMs: number): string {
  const age = nowMs - Date.parse(s.updatedAt);
  const state =
    age > STALE_MS ? `stale (last update ${Math.round(age / 1000)} s ago: not running?)` : "running";
  const lines = [
    `share:    ${dir}`,
    `daemon:   ${state}, pid ${s.pid}, device ${s.deviceId}`,
    `in sync:  ${s.inSync ? "yes" : "no"}`,
    `files:    ${s.files.local} local, ${s.files.needed} needed`,
    `wire:     ${mb(s.wire.bytesSent)} sent, ${mb(s.wire.bytesReceived)} received`,
  ];
  s.peers.forEach((p, i) => {
    lines.push(
      `${i === 0 ? "peers:   " : "         "} ${p.address} ${p.connected ? "connected" : "not connected"}`,
    );
  });
  return `${lines.join("\n")}\n`;
}

export async function statusCommand(dir: string, json: boolean, io: CliIo): Promise<number> {
  const path = join(dir, STATE_DIR, STATUS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    io.err(`error: cannot read ${path} (${code}): is left running on this folder?\n`);
    return ExitCode.Failure;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!isStatus(parsed)) {
    io.err(`error: ${path} is not a LEFT status file\n`);
    return ExitCode.Failure;
  }
  io.out(json ? text : formatStatus(dir, parsed, Date.now()));
  return ExitCode.Ok;
}
