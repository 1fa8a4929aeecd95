/**
 * Semantic checks of one announced entry, applied before anything a peer says reaches the index: the
 * path and link target must be safe, and a file's block list must tile exactly the announced size, so
 * that the puller can trust offsets and sizes when it allocates and writes.
 */
import type { FileInfo } from "../index/types.js";
import { linkTargetProblem, pathProblem } from "./paths.js";

/** Why a peer's entry must be dropped, or null when it is acceptable. */
export function entryProblem(f: FileInfo): string | null {
  const pathIssue = pathProblem(f.path);
  if (pathIssue !== null) return pathIssue;
  if (Object.keys(f.version).length === 0) return "empty version vector";
  // A tombstone's other fields are never acted upon.
  if (f.deleted) return null;
  if (f.type === "file") {
    if (f.digest === "") return "file without digest";
    const last = f.blocks[f.blocks.length - 1];
    const covered = last === undefined ? 0 : last.offset + last.size;
    if (covered !== f.size) return `blocks cover ${covered} of ${f.size} bytes`;
    if (f.target !== "") return "file with link target";
    return null;
  }
  if (f.blocks.length !== 0 || f.digest !== "") return "content on an entry without data";
  if (f.type === "symlink") return linkTargetProblem(f.path, f.target);
  if (f.target !== "") return "link target on a non-link";
  return null;
}
