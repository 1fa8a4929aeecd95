/**
 * Plain words for the file-system failures a user can fix (disk full, read-only mount, permissions), so
 * that the log line says what is wrong rather than only an errno.
 */
const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: "disk full",
  SQLITE_FULL: "disk full",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  SQLITE_READONLY: "read-only file system",
  EXDEV: "the target is on another mount (part of the share mounted separately, read-only?)",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EMFILE: "too many open files",
  EIO: "I/O error",
};

/** "disk full (ENOSPC)", or the error's own message when it is not one of the above. */
export function ioProblem(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code in REASONS) return `${REASONS[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}
