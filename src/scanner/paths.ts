/** Path rules for what the local side announces. */
import { posix } from "node:path";

/**
 * A symlink target peers may recreate: relative and resolving inside the share. Anything else would
 * point somewhere different (or outside the share) on the receiving host, so it is not synchronized.
 */
export function isShareLocalLinkTarget(path: string, target: string): boolean {
  if (target === "" || target.includes("\0") || posix.isAbsolute(target)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  return resolved !== ".." && !resolved.startsWith("../");
}
