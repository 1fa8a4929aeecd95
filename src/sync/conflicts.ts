/**
 * Conflict policy: which of two concurrent versions wins, and what the losing copy is called. Both are
 * pure functions of the two FileInfos, so every peer reaches the same verdict and the same name without
 * talking to the others.
 */
import type { FileInfo } from "../index/types.js";

type Contender = Pick<FileInfo, "mtimeMs" | "modifiedBy" | "digest" | "target">;

/**
 * True when `a` beats `b`: the later modification wins; on equal mtimes the greater device id, then the
 * greater content identity, so that the verdict is total and never depends on the order of arrival.
 */
export function winsConflict(a: Contender, b: Contender): boolean {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs > b.mtimeMs;
  if (a.modifiedBy !== b.modifiedBy) return a.modifiedBy > b.modifiedBy;
  if (a.digest !== b.digest) return a.digest > b.digest;
  return a.target > b.target;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** YYYYMMDD-HHMMSS in UTC: local time zones differ between peers, the name must not. */
function stamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}-` +
    `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}`
  );
}

/**
 * Syncthing-style name for the losing copy of `path`: `dir/name.sync-conflict-YYYYMMDD-HHMMSS-abcdef1.ext`,
 * stamped with the loser's mtime and device. A leading dot (".bashrc") is part of the name, not an
 * extension. `attempt` > 1 appends a counter for the rare case that the name is already taken.
 */
export function conflictName(
  path: string,
  loser: Pick<FileInfo, "mtimeMs" | "modifiedBy">,
  attempt = 1,
): string {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash + 1);
  const base = path.slice(slash + 1);
  const dot = base.lastIndexOf(".");
  const hasExt = dot > 0;
  const name = hasExt ? base.slice(0, dot) : base;
  const ext = hasExt ? base.slice(dot) : "";
  const counter = attempt > 1 ? `-${attempt}` : "";
  return `${dir}${name}.sync-conflict-${stamp(loser.mtimeMs)}-${loser.modifiedBy.slice(0, 7)}${counter}${ext}`;
}
