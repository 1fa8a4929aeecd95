/**
 * Start-up failures in words that name what to change: the flag, the folder or the address, and how to
 * fix it. The daemon logs these and exits 1.
 */

/** The errno code of a Node system error ("EADDRINUSE"), or "" for anything else. */
export function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? code : "";
}

/** Why the share folder (or its `.left` state folder) cannot be created or written. */
export function shareProblem(dir: string, err: unknown): string {
  const code = errnoCode(err);
  switch (code) {
    case "ENOTDIR":
    case "EEXIST":
      return `--dir ${dir}: a file is in the way (${code}): --dir must name a folder`;
    case "EACCES":
    case "EPERM":
      return `--dir ${dir}: permission denied (${code}): choose a folder you can write to, or fix its permissions`;
    case "EROFS":
      return `--dir ${dir}: read-only file system: choose a writable folder`;
    case "ENOSPC":
      return `--dir ${dir}: no space left on the device`;
    default:
      return `--dir ${dir}: cannot use this folder: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Why the UDP socket cannot be bound ("cannot listen on" is what scripts look for to retry another port). */
export function bindProblem(bind: string, port: number, err: unknown): string {
  const prefix = `cannot listen on ${bind}:${port}`;
  switch (errnoCode(err)) {
    case "EADDRINUSE":
      return `${prefix}: --port ${port} is already in use (another left, or another program): choose another --port, or stop the other one`;
    case "EADDRNOTAVAIL":
      return `${prefix}: --bind ${bind} is not an address of this host: use one of its addresses, or leave --bind out to listen on all`;
    case "EACCES":
    case "EPERM":
      return `${prefix}: not permitted (${errnoCode(err)})`;
    default:
      return `${prefix}: ${err instanceof Error ? err.message : String(err)}`;
  }
}
