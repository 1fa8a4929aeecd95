/**
 * The sync decision for one path: given this device's entry and what peers announced for the same path,
 * what (if anything) must happen locally. Pure, so that the rules can be tested exhaustively and every
 * peer applies exactly the same ones.
 */
import type { FileInfo } from "../index/types.js";
import { compareVersions, mergeVersions } from "../index/version.js";
import { winsConflict } from "./conflicts.js";

/**
 * - pull: fetch the file's blocks and rename it into place
 * - mkdir / symlink: create the directory or link
 * - delete: remove the local entry (the target is a tombstone)
 * - adopt: the content is already here; only the version (and mode/mtime) is recorded
 */
export type NeedOp = "pull" | "mkdir" | "symlink" | "delete" | "adopt";

export interface Need {
  op: NeedOp;
  /** What the local entry becomes, including the version to record (its sequence is meaningless). */
  target: FileInfo;
  /** The local entry that lost a concurrent edit and must first be kept as a conflict copy. */
  loser: FileInfo | null;
}

/** Same bytes on disk (or both deleted): versions may differ, data does not have to move. */
export function sameContent(a: FileInfo, b: FileInfo): boolean {
  if (a.deleted || b.deleted) return a.deleted === b.deleted;
  if (a.type !== b.type) return false;
  if (a.type === "file") return a.digest === b.digest;
  if (a.type === "symlink") return a.target === b.target;
  return true;
}

function opFor(target: FileInfo): NeedOp {
  if (target.deleted) return "delete";
  if (target.type === "file") return "pull";
  if (target.type === "dir") return "mkdir";
  return "symlink";
}

/**
 * Among announcements that are newer than (or concurrent with) the local entry, the one to act on first:
 * strictly newer ones before concurrent ones, so that a conflict is never resolved against a local entry
 * that is already outdated; among equals, the dominating one, then the conflict winner.
 */
function pickCandidate(local: FileInfo | undefined, remotes: readonly FileInfo[]): FileInfo | undefined {
  let best: FileInfo | undefined;
  let bestNewer = false;
  for (const r of remotes) {
    const rel = local ? compareVersions(r.version, local.version) : "greater";
    if (rel !== "greater" && rel !== "concurrent") continue;
    const newer = rel === "greater";
    if (best === undefined || (newer && !bestNewer)) {
      best = r;
      bestNewer = newer;
      continue;
    }
    if (newer !== bestNewer) continue;
    const vs = compareVersions(r.version, best.version);
    if (vs === "greater" || (vs === "concurrent" && winsConflict(r, best))) best = r;
  }
  return best;
}

/** What must happen to `local` given the peers' announcements for the same path; null when nothing. */
export function decideNeed(local: FileInfo | undefined, remotes: readonly FileInfo[]): Need | null {
  const remote = pickCandidate(local, remotes);
  if (remote === undefined) return null;
  if (local === undefined) {
    // A deletion of something we never had leaves nothing to do.
    return remote.deleted ? null : { op: opFor(remote), target: remote, loser: null };
  }
  const concurrent = compareVersions(remote.version, local.version) === "concurrent";
  if (!concurrent) {
    const op = sameContent(local, remote) ? "adopt" : opFor(remote);
    return { op, target: remote, loser: null };
  }
  const version = mergeVersions(local.version, remote.version);
  if (sameContent(local, remote)) {
    const winner = winsConflict(remote, local) ? remote : local;
    return { op: "adopt", target: { ...winner, version }, loser: null };
  }
  // A concurrent deletion loses against any edit: the edit is data, the deletion is not.
  if (remote.deleted) return null;
  if (local.deleted) return { op: opFor(remote), target: { ...remote, version }, loser: null };
  if (!winsConflict(remote, local)) return null;
  return { op: opFor(remote), target: { ...remote, version }, loser: local };
}
