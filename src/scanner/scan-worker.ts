/**
 * The scanner's logic, run on its own worker thread (workers/scanner-worker.ts wires it to the port).
 *
 * Full scans walk the share with synchronous fs calls (this thread has nothing else to do) and yield to
 * the event loop between batches so that pause/close messages and watch events are handled mid-walk.
 * Watching uses one non-recursive fs.watch per directory: Node 20's recursive mode on Linux puts an
 * inotify watch on every file and reports a removal of "f2" as removals of "f20".."f29" as well.
 * Every directory is watched before it is read, so nothing created during the walk is missed.
 */
import { type Dirent, type FSWatcher, readdirSync, watch } from "node:fs";
import { basename, join } from "node:path";
import { LEFT_DIR } from "../index/layout.js";
import type { StatRecord } from "../index/types.js";
import type { LogFields, LogLevel } from "../util/log.js";
import type { FromWorker, ScannerWorkerData, ToWorker } from "./messages.js";
import { statEntry } from "./stat-record.js";

const BATCH = 1000;

interface Watched {
  watcher: FSWatcher;
  /** Inode the watch was set on: a directory deleted and recreated under the same name needs a new one. */
  ino: number;
}

export class ScanWorker {
  private readonly watchers = new Map<string, Watched>();
  private readonly touched = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private closing = false;
  private scanning = false;
  private scanRequested = false;
  private wake: (() => void) | undefined;
  private watchLimitLogged = false;
  /** Directories watched since the current full scan started (by the walk or by a flush meanwhile). */
  private scanDirs: Set<string> | undefined;

  constructor(
    private readonly data: ScannerWorkerData,
    private readonly post: (msg: FromWorker) => void,
    private readonly onClosed: () => void,
  ) {}

  handle(msg: ToWorker): void {
    switch (msg.type) {
      case "start":
      case "rescan":
        this.requestScan();
        return;
      case "pause":
        this.paused = true;
        return;
      case "resume":
        this.paused = false;
        this.wake?.();
        this.scheduleFlush();
        return;
      case "close":
        this.close();
        return;
    }
  }

  private close(): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.rescanTimer);
    for (const w of this.watchers.values()) w.watcher.close();
    this.watchers.clear();
    this.wake?.();
    if (!this.scanning) this.finish();
  }

  private finish(): void {
    this.post({ type: "closed" });
    this.onClosed();
  }

  private log(level: LogLevel, event: string, message: string, fields?: LogFields): void {
    this.post({ type: "log", level, event, message, fields });
  }

  private abs(rel: string): string {
    return rel === "" ? this.data.dir : join(this.data.dir, rel);
  }

  private requestScan(): void {
    if (this.closing) return;
    this.scanRequested = true;
    if (!this.scanning) void this.runScans();
  }

  /** Runs full scans until no new request came in meanwhile; requests during a scan coalesce into one. */
  private async runScans(): Promise<void> {
    this.scanning = true;
    clearTimeout(this.rescanTimer);
    try {
      while (this.scanRequested && !this.closing) {
        this.scanRequested = false;
        await this.fullScan();
      }
    } catch (err) {
      this.post({ type: "error", message: `full scan failed: ${(err as Error).message}` });
    }
    this.scanning = false;
    if (this.closing) {
      this.finish();
      return;
    }
    this.rescanTimer = setTimeout(() => this.requestScan(), this.data.rescanIntervalMs);
  }

  private async whilePaused(): Promise<void> {
    while (this.paused && !this.closing) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  private async fullScan(): Promise<void> {
    await this.whilePaused();
    if (this.closing) return;
    const started = performance.now();
    this.post({ type: "scanStart" });
    const root = statEntry("", this.data.dir);
    if (root.kind !== "entry" || root.record.type !== "dir") {
      throw new Error(`share ${this.data.dir} is not a readable directory`);
    }
    const dirs = new Set<string>();
    this.scanDirs = dirs;
    this.watchDir("", root.record.ino);
    let batch: StatRecord[] = [];
    let entries = 0;
    for (const record of this.walk("")) {
      batch.push(record);
      entries++;
      if (batch.length < BATCH) continue;
      this.post({ type: "changes", records: batch, fullScan: true });
      batch = [];
      await new Promise((resolve) => setImmediate(resolve));
      await this.whilePaused();
      if (this.closing) return;
    }
    if (batch.length > 0) this.post({ type: "changes", records: batch, fullScan: true });
    this.scanDirs = undefined;
    // Watches of directories that vanished without an event (e.g. while a watch could not be set).
    for (const dir of [...this.watchers.keys()]) if (!dirs.has(dir)) this.unwatch(dir);
    this.post({ type: "scanComplete" });
    this.log("debug", "scan.complete", "full scan complete", {
      entries,
      ms: Math.round(performance.now() - started),
    });
  }

  /** Every entry below `top` (not `top` itself), parents before children; watches each directory found. */
  private *walk(top: string): Generator<StatRecord> {
    const stack = [top];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let dirents: Dirent[];
      try {
        dirents = readdirSync(this.abs(dir), { withFileTypes: true });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code !== "ENOENT" && e.code !== "ENOTDIR") {
          this.log("warn", "scan.unreadable", "cannot list directory", { path: dir, code: e.code });
        }
        continue;
      }
      for (const d of dirents) {
        if (dir === "" && d.name === LEFT_DIR) continue;
        const path = dir === "" ? d.name : `${dir}/${d.name}`;
        const outcome = statEntry(path, this.abs(path));
        if (outcome.kind === "error") {
          this.log("warn", "scan.unreadable", "cannot stat entry", { path, code: outcome.code });
        }
        if (outcome.kind !== "entry") continue;
        if (outcome.record.type === "dir") {
          this.watchDir(path, outcome.record.ino);
          stack.push(path);
        }
        yield outcome.record;
      }
    }
  }

  private watchDir(dir: string, ino: number): void {
    this.scanDirs?.add(dir);
    const existing = this.watchers.get(dir);
    if (existing?.ino === ino) return;
    existing?.watcher.close();
    try {
      const watcher = watch(this.abs(dir), { persistent: true }, (_event, name) => this.onEvent(dir, name));
      watcher.on("error", () => {
        // Typically the directory vanished; the flush finds out what is there now.
        this.unwatch(dir);
        this.touch(dir);
      });
      this.watchers.set(dir, { watcher, ino });
    } catch (err) {
      this.watchers.delete(dir);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" && !this.watchLimitLogged) {
        this.watchLimitLogged = true;
        this.log("warn", "scan.watch_limit", "inotify watch limit reached: relying on periodic rescans", {
          path: dir,
        });
      } else if (code !== "ENOENT" && code !== "ENOSPC") {
        this.log("warn", "scan.watch_failed", "cannot watch directory", { path: dir, code });
      }
    }
  }

  private unwatch(dir: string): void {
    this.watchers.get(dir)?.watcher.close();
    this.watchers.delete(dir);
  }

  /** Stops watching `path` and every directory below it. */
  private unwatchTree(path: string): void {
    const prefix = `${path}/`;
    for (const dir of [...this.watchers.keys()]) {
      if (dir === path || dir.startsWith(prefix)) this.unwatch(dir);
    }
  }

  private onEvent(dir: string, name: string | null): void {
    if (this.closing) return;
    if (name === null) {
      // No name: something in the directory changed. Forgetting the watch makes the flush re-walk it.
      this.unwatch(dir);
      this.touch(dir);
      return;
    }
    if (dir === "" && name === LEFT_DIR) return;
    if (dir !== "" && name === basename(dir)) {
      // How a watched directory reports its own deletion (or a child of the same name). Its watch may be
      // dead, and a directory recreated at once can get the same inode: drop it so the flush re-walks.
      this.unwatch(dir);
      this.touch(dir);
    }
    this.touch(dir === "" ? name : `${dir}/${name}`);
  }

  private touch(path: string): void {
    if (path === "") {
      // The share root itself: its watch may be gone, and only a full scan re-establishes everything.
      this.requestScan();
      return;
    }
    this.touched.add(path);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.paused || this.closing || this.touched.size === 0) return;
    this.flushTimer = setTimeout(() => this.flush(), this.data.debounceMs);
  }

  /** Reports the current state of every touched path; new directories are walked whole. */
  private flush(): void {
    this.flushTimer = undefined;
    if (this.paused || this.closing) return;
    // Sorted, a directory comes before everything below it, so a walked subtree covers its touched children.
    const paths = [...this.touched].sort();
    this.touched.clear();
    const records: StatRecord[] = [];
    const walked: string[] = [];
    const gone: string[] = [];
    const reported = new Set<string>();
    for (const path of paths) {
      if (reported.has(path)) continue;
      const outcome = statEntry(path, this.abs(path));
      if (outcome.kind === "error") {
        this.log("warn", "scan.unreadable", "cannot stat entry", { path, code: outcome.code });
        continue;
      }
      if (outcome.kind !== "entry") {
        gone.push(path);
        this.unwatchTree(path);
        continue;
      }
      const record = outcome.record;
      records.push(record);
      reported.add(path);
      if (record.type !== "dir") {
        this.unwatchTree(path);
        continue;
      }
      if (this.watchers.get(path)?.ino === record.ino) continue;
      this.unwatchTree(path);
      this.watchDir(path, record.ino);
      for (const child of this.walk(path)) {
        records.push(child);
        reported.add(child.path);
      }
      walked.push(path);
    }
    if (records.length > 0 || gone.length > 0) this.post({ type: "touched", records, walked, gone });
  }
}
