/**
 * One daemon per share: `<share>/.left/daemon.pid` is created exclusively at start and removed at exit.
 * A file left by a process that no longer exists (SIGKILL, crash) is taken over.
 */
import { readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STATE_DIR } from "../sync/paths.js";

export type Lock = { release(): Promise<void> } | { heldBy: number };

/** Whether process `pid` exists (on this host). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function lockShare(dir: string): Promise<Lock> {
  const path = join(dir, STATE_DIR, "daemon.pid");
  for (;;) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: "wx" });
      return { release: () => unlink(path).catch(() => undefined) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid))
      return { heldBy: pid };
    // Stale: whoever wrote it is gone. Remove it and compete for the lock again.
    await unlink(path).catch(() => undefined);
  }
}
