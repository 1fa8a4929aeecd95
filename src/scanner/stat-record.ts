/**
 * lstat of one share entry as a StatRecord. Symlinks are described, never followed; sockets, FIFOs and
 * devices are not synchronized.
 */
import { lstatSync, readlinkSync, type Stats } from "node:fs";
import type { StatRecord } from "../index/types.js";

export type StatOutcome =
  | { kind: "entry"; record: StatRecord }
  | { kind: "missing" }
  | { kind: "unsupported" }
  | { kind: "error"; code: string; message: string };

/** Errors meaning "nothing is there any more" (ENOTDIR: a parent was replaced by a file). */
function isMissing(code: string | undefined): boolean {
  return code === "ENOENT" || code === "ENOTDIR";
}

export function recordFromStats(path: string, st: Stats, target: string): StatRecord | undefined {
  const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : undefined;
  if (type === undefined) return undefined;
  return {
    path,
    type,
    size: type === "file" ? st.size : 0,
    mtimeMs: st.mtimeMs,
    mode: st.mode & 0o7777,
    ino: st.ino,
    target,
  };
}

/** Stats `abs` (the entry `path` of the share). */
export function statEntry(path: string, abs: string): StatOutcome {
  try {
    const st = lstatSync(abs);
    const record = recordFromStats(path, st, st.isSymbolicLink() ? readlinkSync(abs) : "");
    return record ? { kind: "entry", record } : { kind: "unsupported" };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (isMissing(e.code)) return { kind: "missing" };
    return { kind: "error", code: e.code ?? "EUNKNOWN", message: e.message };
  }
}
