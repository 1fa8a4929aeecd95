/**
 * Validation of paths that arrive from peers, and the filesystem walk that refuses to write through a
 * symlink. A peer is never trusted to name a place on our disk: every remote path and link target is
 * checked here before it reaches the index or the filesystem.
 */
import { lstat, mkdir } from "node:fs/promises";
import { posix } from "node:path";

/** LEFT's private folder inside each share (index, tmp files); never synced. */
export const STATE_DIR = ".left";

/** Longest path accepted from a peer, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest single component, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/**
 * Why a remote path is unacceptable, or null when it is a clean relative POSIX path inside the share.
 * Backslashes are refused outright: a peer on another OS could mean them as separators, and a name that
 * differs in meaning between hosts cannot be synced faithfully.
 */
export function pathProblem(path: string): string | null {
  if (path.length === 0) return "empty path";
  if (Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES) return "path too long";
  if (path.includes("\0")) return "NUL in path";
  if (path.includes("\\")) return "backslash in path";
  if (path.startsWith("/")) return "absolute path";
  const parts = path.split("/");
  for (const part of parts) {
    if (part === "") return "empty path component";
    if (part === "." || part === "..") return "dot component";
    if (Buffer.byteLength(part, "utf8") > MAX_NAME_BYTES) return "path component too long";
  }
  if (parts[0] === STATE_DIR) return "inside .left";
  return null;
}

/**
 * Why a symlink stored at `linkPath` may not point at `target`, or null. Targets must be relative and
 * resolve inside the share (and outside .left), so that following a synced link never leaves the share.
 */
export function linkTargetProblem(linkPath: string, target: string): string | null {
  if (target.length === 0) return "empty link target";
  if (Buffer.byteLength(target, "utf8") > MAX_PATH_BYTES) return "link target too long";
  if (target.includes("\0")) return "NUL in link target";
  if (target.includes("\\")) return "backslash in link target";
  if (target.startsWith("/")) return "absolute link target";
  const resolved = posix.normalize(posix.join(posix.dirname(linkPath), target));
  if (resolved === ".." || resolved.startsWith("../")) return "link target leaves the share";
  if (resolved === STATE_DIR || resolved.startsWith(`${STATE_DIR}/`)) return "link target inside .left";
  return null;
}

export class UnsafePathError extends Error {
  override name = "UnsafePathError";
}

/**
 * Makes sure every parent directory of `rel` inside `root` is a real directory (creating missing ones
 * when `create`), so that writing `rel` cannot be redirected through a symlink placed by anyone.
 * Returns false when a parent is missing and `create` is false.
 */
export async function checkParents(root: string, rel: string, create: boolean): Promise<boolean> {
  const parts = rel.split("/");
  let dir = root;
  for (let i = 0; i < parts.length - 1; i++) {
    dir = posix.join(dir, parts[i]!);
    const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (st === null) {
      if (!create) return false;
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
      // A racing creator may have put something else there: check what is there now.
      const made = await lstat(dir);
      if (!made.isDirectory()) throw new UnsafePathError(`${dir} is not a directory`);
      continue;
    }
    if (st.isSymbolicLink()) throw new UnsafePathError(`${dir} is a symlink`);
    if (!st.isDirectory()) throw new UnsafePathError(`${dir} is not a directory`);
  }
  return true;
}
