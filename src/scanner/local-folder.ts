/**
 * Reconciles what the scanner sees on disk with the local index: new or changed entries get a new
 * version (files are hashed in the BlockPool first), vanished ones become tombstones.
 *
 * LEFT's own writes are not mistaken for local edits because the sync layer (a) holds a path while it
 * writes it, so reports about it are ignored, and (b) calls recordPulled afterwards, which stores the
 * file's fresh stat: the next report about the path then matches the index and changes nothing.
 *
 * A deletion is only recorded after an lstat confirms the entry is absent and the index entry has not
 * changed meanwhile, so a path created after the walk passed its directory (or just put in place by
 * the sync layer) is never tombstoned by a full scan that missed it.
 */
import { EventEmitter } from "node:events";
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { IndexDb } from "../index/db.js";
import type { DeviceId, FileInfo, StatRecord } from "../index/types.js";
import { bumpVersion } from "../index/version.js";
import { HashError } from "../pipeline/pool.js";
import type { PreviousVersion } from "../pipeline/rehash.js";
import type { ChunkParams, HashedFile } from "../pipeline/types.js";
import type { Logger } from "../util/log.js";
import { isShareLocalLinkTarget } from "./paths.js";
import { Scanner } from "./scanner.js";
import { recordFromStats } from "./stat-record.js";

/** What LocalFolder needs of the BlockPool (narrowed so tests can count or perturb hashing). */
export interface FileHasher {
  hashFile(
    absPath: string,
    params: ChunkParams,
    signal?: AbortSignal,
    previous?: () => PreviousVersion | undefined,
  ): Promise<HashedFile>;
}

export interface LocalFolderOptions {
  dir: string;
  db: IndexDb;
  pool: FileHasher;
  chunk: ChunkParams;
  log: Logger;
  rescanIntervalMs?: number;
  /** Watch debounce of the scanner (default 25 ms). */
  debounceMs?: number;
  /**
   * Files hashed at the same time (default 64: the pool coalesces small files into one task, so many
   * in flight keep it busy) and their total size (default 64 MiB: big files go one or two at a time).
   */
  hashConcurrency?: number;
  hashBudgetBytes?: number;
  /** Wait before re-examining a file that changed while it was hashed (default 250 ms). */
  settleMs?: number;
}

type Entry = Omit<FileInfo, "sequence">;

interface InFlight {
  record: StatRecord;
  /** The newest report about the file received while hashing. */
  newer?: StatRecord;
  /** The sync layer recorded a pulled version meanwhile: this hash describes what it replaced. */
  superseded?: boolean;
  abort: AbortController;
}

type HashOutcome = { kind: "hashed"; hashed: HashedFile } | { kind: "changed" } | { kind: "skip" };

/** Stat fields that tell whether an entry changed. Directory mtimes change whenever a child does: ignored. */
function sameStat(a: StatRecord, b: StatRecord): boolean {
  if (a.type !== b.type || a.mode !== b.mode) return false;
  if (a.type === "symlink") return a.target === b.target;
  if (a.type === "dir") return true;
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

function sameContentStat(a: StatRecord, b: StatRecord): boolean {
  return a.type === b.type && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

function sameBlocks(a: FileInfo, b: HashedFile): boolean {
  return a.blocks.length === b.blocks.length && a.blocks.every((x, i) => x.hash === b.blocks[i].hash);
}

function entryOf(info: FileInfo): Entry {
  const { sequence: _, ...entry } = info;
  return entry;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

const DELETE_CHECK_BATCH = 256;
/** Reports examined per event-loop turn (≈1–3 ms of index lookups). */
const EXAMINE_SLICE = 256;

export class LocalFolder extends EventEmitter<{ changed: [files: FileInfo[]] }> {
  private readonly scanner: Scanner;
  private readonly db: IndexDb;
  private readonly device: DeviceId;
  private readonly held = new Map<string, number>();
  /** Symlinks already logged as not synchronized (logged once, not at every rescan). */
  private readonly skippedLinks = new Set<string>();
  /** Paths reported since the current full scan started; undefined between full scans. */
  private seen: Set<string> | undefined;
  /** Files being hashed: the newest report received meanwhile, and how to stop hashing a stale version. */
  private readonly hashing = new Map<string, InFlight>();
  /** Files waiting for a hashing slot, in arrival order; a newer report replaces the queued one. */
  private readonly hashQueue = new Map<string, StatRecord>();
  /** Files that changed while being hashed, left alone until their timer re-examines them. */
  private readonly settling = new Map<string, NodeJS.Timeout>();
  private readonly hashConcurrency: number;
  private readonly hashBudgetBytes: number;
  private hashingBytes = 0;
  private readonly settleMs: number;
  /** Scanner reports not examined yet (see drain). */
  private readonly incoming: { records: StatRecord[]; walked: string[]; next: number }[] = [];
  private draining = false;
  /** Files hashed and verified unchanged, waiting for the next batched commit. */
  private hashed: { record: StatRecord; hashed: HashedFile }[] = [];
  private pending: FileInfo[] = [];
  private emitScheduled = false;
  /** From start() (the first scan is due) and every scanStart until its scanComplete. */
  private scanning = false;
  /** Deletion checks (lstat of indexed paths the scanner no longer lists) under way. */
  private deletionChecks = 0;
  private closed = false;
  private idle: (() => void) | undefined;

  static open(opts: LocalFolderOptions): LocalFolder {
    return new LocalFolder(opts);
  }

  private constructor(private readonly opts: LocalFolderOptions) {
    super();
    this.db = opts.db;
    this.device = opts.db.deviceId;
    this.hashConcurrency = opts.hashConcurrency ?? 64;
    this.hashBudgetBytes = opts.hashBudgetBytes ?? 64 << 20;
    this.settleMs = opts.settleMs ?? 250;
    this.scanner = new Scanner({
      dir: opts.dir,
      rescanIntervalMs: opts.rescanIntervalMs ?? 60_000,
      log: opts.log,
      debounceMs: opts.debounceMs,
    });
    this.scanner.on("scanStart", () => {
      this.scanning = true;
      this.seen = new Set();
    });
    this.scanner.on("changes", (records, _fullScan, walked) => this.onChanges(records, walked));
    this.scanner.on("gone", (paths) => this.onGone(paths));
    this.scanner.on("scanComplete", () => this.onScanComplete());
    this.scanner.on("error", (err) => opts.log.log("error", "scan.error", err.message));
  }

  start(): void {
    this.scanning = true;
    this.scanner.start();
  }

  /**
   * True while local changes may still be on their way into the index: a full scan is running (or the
   * first one has not run yet), reported entries wait to be examined, files wait to be hashed, are being
   * hashed or committed, or settle after changing during a hash, or deletions are being checked. The
   * sync engine is not in sync while this holds. Edits the scanner worker has seen but not reported yet
   * (its watch debounce) are not visible here.
   */
  busy(): boolean {
    return (
      this.scanning ||
      this.deletionChecks > 0 ||
      this.incoming.length > 0 ||
      this.hashQueue.size > 0 ||
      this.hashing.size > 0 ||
      this.hashed.length > 0 ||
      this.settling.size > 0 ||
      this.pending.length > 0
    );
  }

  pause(): void {
    this.scanner.pause();
  }

  resume(): void {
    this.scanner.resume();
  }

  rescan(): void {
    this.scanner.rescan();
  }

  hold(path: string): void {
    this.held.set(path, (this.held.get(path) ?? 0) + 1);
  }

  release(path: string): void {
    const n = this.held.get(path) ?? 0;
    if (n <= 1) this.held.delete(path);
    else this.held.set(path, n - 1);
  }

  /**
   * Records an entry the sync layer just put in place (or deleted) with the version it came with, and
   * the entry's current stat, so that the scanner's report about it is recognised as no change. Does not
   * emit 'changed': the caller has the returned FileInfo.
   */
  async recordPulled(info: Entry): Promise<FileInfo> {
    this.hashQueue.delete(info.path);
    const inFlight = this.hashing.get(info.path);
    if (inFlight) {
      inFlight.superseded = true;
      inFlight.abort.abort();
    }
    const stat = info.deleted ? undefined : await this.statPath(info.path);
    return this.db.putLocal(info, stat?.type === info.type ? stat : null);
  }

  /** Stops the scanner worker and waits for hashing in progress; emits nothing afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.settling.values()) clearTimeout(timer);
    this.settling.clear();
    this.hashQueue.clear();
    await this.scanner.close();
    if (this.hashing.size > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
    }
  }

  private isHeld(path: string): boolean {
    return this.held.has(path);
  }

  private abs(path: string): string {
    return join(this.opts.dir, path);
  }

  private async statPath(path: string): Promise<StatRecord | undefined> {
    const abs = this.abs(path);
    try {
      const st = await lstat(abs);
      return recordFromStats(path, st, st.isSymbolicLink() ? await readlink(abs) : "");
    } catch (err) {
      const code = errnoCode(err);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      return undefined;
    }
  }

  private onChanges(records: StatRecord[], walked: string[]): void {
    if (this.closed) return;
    // Entries reported by watch batches during a full scan count as seen too: they exist.
    if (this.seen) for (const r of records) this.seen.add(r.path);
    this.incoming.push({ records, walked, next: 0 });
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /**
   * Examines reported entries EXAMINE_SLICE at a time, yielding to the event loop in between: a full
   * scan of a big share must not stall the socket-reading main thread (an 8 MiB receive buffer lasts
   * ≈8 ms at 1 GB/s).
   */
  private drain(): void {
    let budget = EXAMINE_SLICE;
    this.write(() => {
      while (budget > 0 && this.incoming.length > 0) {
        const batch = this.incoming[0];
        const end = Math.min(batch.records.length, batch.next + budget);
        budget -= end - batch.next;
        for (; batch.next < end; batch.next++) this.examine(batch.records[batch.next]);
        if (batch.next < batch.records.length) break;
        this.incoming.shift();
        this.checkWalked(batch.records, batch.walked);
      }
    });
    if (this.incoming.length > 0 && !this.closed) setImmediate(() => this.drain());
    else this.draining = false;
  }

  /** Indexed entries below newly walked directories that the walk did not list are probably gone. */
  private checkWalked(records: StatRecord[], walked: string[]): void {
    if (walked.length === 0) return;
    const reported = new Set(records.map((r) => r.path));
    const stale = walked.flatMap((dir) =>
      this.db.localUnder(dir).filter((f) => !f.deleted && !reported.has(f.path)),
    );
    this.checkDeletions(this.deleteIfAbsent(stale));
  }

  private onGone(paths: string[]): void {
    if (this.closed) return;
    const candidates: { path: string; sequence: number }[] = [];
    for (const path of paths) {
      const self = this.db.getLocal(path);
      if (self && !self.deleted) candidates.push(self);
      for (const f of this.db.localUnder(path)) if (!f.deleted) candidates.push(f);
    }
    this.checkDeletions(this.deleteIfAbsent(candidates));
  }

  private onScanComplete(): void {
    const seen = this.seen;
    this.seen = undefined;
    if (seen !== undefined) this.checkDeletions(this.deleteUnseen(seen));
    this.scanning = false;
  }

  /** Counts a deletion check while it runs (see busy). */
  private checkDeletions(check: Promise<void>): void {
    this.deletionChecks++;
    void check.finally(() => {
      this.deletionChecks--;
    });
  }

  /**
   * After a full scan: indexed live entries the walk did not list, a page at a time between event-loop
   * turns, in descending path order so that children are tombstoned before their parents.
   */
  private async deleteUnseen(seen: Set<string>): Promise<void> {
    for (let before: string | null = null; !this.closed; ) {
      const page = this.db.livePathsBefore(before, DELETE_CHECK_BATCH * 4);
      if (page.length === 0) return;
      before = page[page.length - 1].path;
      await this.deleteIfAbsent(page.filter((f) => !seen.has(f.path)));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Compares one report with the index and records what changed (hashing files first). */
  private examine(r: StatRecord): void {
    if (this.closed || this.isHeld(r.path) || this.settling.has(r.path)) return;
    const inFlight = this.hashing.get(r.path);
    if (inFlight) {
      inFlight.newer = r;
      // The file is being written: finishing the hash of a version that is gone is wasted work.
      if (!sameContentStat(inFlight.record, r)) inFlight.abort.abort();
      return;
    }
    if (r.type === "symlink" && !isShareLocalLinkTarget(r.path, r.target)) {
      if (!this.skippedLinks.has(r.path)) {
        this.skippedLinks.add(r.path);
        this.opts.log.log(
          "info",
          "scan.symlink_skipped",
          "symlink target leaves the share: not synchronized",
          {
            path: r.path,
            target: r.target,
          },
        );
      }
      const prev = this.db.getLocal(r.path);
      if (prev && !prev.deleted) this.tombstone(prev);
      return;
    }
    const stored = this.db.getStat(r.path);
    if (stored && sameStat(stored, r)) return;
    const prev = this.db.getLocal(r.path);
    const live = prev && !prev.deleted ? prev : undefined;
    if (live?.type === "dir" && r.type !== "dir") {
      for (const f of this.db.localUnder(r.path).reverse()) if (!f.deleted) this.tombstone(f);
    }
    if (r.type === "file") {
      if (live?.type === "file" && stored && sameContentStat(stored, r)) {
        this.store(
          {
            ...entryOf(live),
            mode: r.mode,
            version: bumpVersion(live.version, this.device),
            modifiedBy: this.device,
          },
          r,
        );
        return;
      }
      this.hashQueue.delete(r.path);
      this.hashQueue.set(r.path, r);
      this.pump();
      return;
    }
    if (live?.type === "dir" && r.type === "dir" && live.mode === r.mode) {
      this.db.updateStat(r.path, r);
      return;
    }
    this.store(
      {
        path: r.path,
        type: r.type,
        size: 0,
        mtimeMs: r.mtimeMs,
        mode: r.mode,
        deleted: false,
        version: bumpVersion(prev?.version ?? {}, this.device),
        modifiedBy: this.device,
        blocks: [],
        digest: "",
        target: r.type === "symlink" ? r.target : "",
      },
      r,
    );
  }

  private pump(): void {
    while (!this.closed && this.hashQueue.size > 0) {
      const [path, record] = this.hashQueue.entries().next().value as [string, StatRecord];
      const busy = this.hashing.size > 0;
      if (
        busy &&
        (this.hashing.size >= this.hashConcurrency || this.hashingBytes + record.size > this.hashBudgetBytes)
      ) {
        return;
      }
      this.hashQueue.delete(path);
      void this.hash(record);
    }
  }

  private async hash(r: StatRecord): Promise<void> {
    const abort = new AbortController();
    this.hashing.set(r.path, { record: r, abort });
    this.hashingBytes += r.size;
    const outcome = await this.hashStable(r, abort.signal);
    if (outcome.kind !== "hashed") {
      this.hashDone(r, outcome.kind === "changed");
      return;
    }
    // Many small files finish hashing in the same tick: record them with one commit.
    this.hashed.push({ record: r, hashed: outcome.hashed });
    if (this.hashed.length === 1) setImmediate(() => this.commitHashed());
  }

  /** The indexed version of a file, from which a big one can be re-hashed around what changed. */
  private previous(r: StatRecord): PreviousVersion | undefined {
    const prev = this.db.getLocal(r.path);
    if (prev === undefined || prev.deleted || prev.type !== "file" || prev.blocks.length < 2)
      return undefined;
    return { size: prev.size, blocks: prev.blocks };
  }

  /** Hashes a file and checks that it did not change meanwhile. Never throws. */
  private async hashStable(r: StatRecord, signal: AbortSignal): Promise<HashOutcome> {
    try {
      const hashed = await this.opts.pool.hashFile(this.abs(r.path), this.opts.chunk, signal, () =>
        this.previous(r),
      );
      const now = await this.statPath(r.path);
      // Deleted meanwhile: the scanner reports it as gone.
      if (now === undefined) return { kind: "skip" };
      return sameContentStat(now, r) ? { kind: "hashed", hashed } : { kind: "changed" };
    } catch (err) {
      if (err instanceof HashError && (err.code === "changed" || err.code === "aborted"))
        return { kind: "changed" };
      if (!(err instanceof HashError && (err.code === "ENOENT" || err.code === "ENOTDIR"))) {
        this.opts.log.log("warn", "scan.hash_failed", "cannot hash file: skipped", {
          path: r.path,
          error: (err as Error).message,
        });
      }
      return { kind: "skip" };
    }
  }

  private commitHashed(): void {
    const done = this.hashed;
    this.hashed = [];
    const superseded = (r: StatRecord) => this.hashing.get(r.path)?.superseded === true;
    this.write(() => {
      for (const { record, hashed } of done) {
        if (!this.isHeld(record.path) && !superseded(record)) this.commitHash(record, hashed);
      }
    });
    for (const { record } of done) this.hashDone(record, superseded(record));
  }

  private hashDone(r: StatRecord, changed: boolean): void {
    const newer = this.hashing.get(r.path)?.newer;
    this.hashing.delete(r.path);
    this.hashingBytes -= r.size;
    if (changed) this.settle(r.path);
    else if (newer) this.examine(newer);
    this.pump();
    if (this.hashing.size === 0) this.idle?.();
  }

  /** Index writes of one batch in one transaction; a failure (disk full…) is logged, never thrown at an emitter. */
  private write(fn: () => void): void {
    if (this.closed) return;
    try {
      this.db.batch(fn);
    } catch (err) {
      this.opts.log.log("error", "index.write_failed", "cannot update the index", {
        error: (err as Error).message,
      });
    }
  }

  /** The file is being written: look again once it had time to settle instead of hashing every write. */
  private settle(path: string): void {
    if (this.closed) return;
    const timer = setTimeout(async () => {
      // Still settling (busy) until examined: the stat is part of the wait.
      const now = await this.statPath(path).catch(() => undefined);
      this.settling.delete(path);
      if (now) this.examine(now);
    }, this.settleMs);
    this.settling.set(path, timer);
  }

  private commitHash(r: StatRecord, hashed: HashedFile): void {
    const prev = this.db.getLocal(r.path);
    const live = prev && !prev.deleted && prev.type === "file" ? prev : undefined;
    if (live && live.digest === hashed.digest && live.mode === r.mode) {
      // Same bytes (touched, or rewritten identically): no new version.
      if (sameBlocks(live, hashed)) this.db.updateStat(r.path, r);
      else this.store({ ...entryOf(live), blocks: hashed.blocks, mtimeMs: r.mtimeMs }, r);
      return;
    }
    this.store(
      {
        path: r.path,
        type: "file",
        size: hashed.size,
        mtimeMs: r.mtimeMs,
        mode: r.mode,
        deleted: false,
        version: bumpVersion(prev?.version ?? {}, this.device),
        modifiedBy: this.device,
        blocks: hashed.blocks,
        digest: hashed.digest,
        target: "",
      },
      r,
    );
  }

  /** Tombstones the entries that are confirmed absent on disk and unchanged in the index since listed. */
  private async deleteIfAbsent(candidates: { path: string; sequence: number }[]): Promise<void> {
    // Children before their parents (descending order), so peers can apply the deletions in order.
    const ordered = [...candidates].sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
    for (let i = 0; i < ordered.length; i += DELETE_CHECK_BATCH) {
      const batch = ordered.slice(i, i + DELETE_CHECK_BATCH);
      const found = await Promise.all(
        batch.map((c) =>
          this.statPath(c.path).then(
            (stat) => ({ c, stat, readable: true }),
            () => ({ c, stat: undefined, readable: false }),
          ),
        ),
      );
      if (this.closed) return;
      this.write(() => {
        for (const { c, stat, readable } of found) {
          if (stat) this.examine(stat);
          if (stat || !readable || this.isHeld(c.path) || this.hashing.has(c.path)) continue;
          const current = this.db.getLocal(c.path);
          if (current && !current.deleted && current.sequence === c.sequence) this.tombstone(current);
        }
      });
    }
  }

  private tombstone(prev: FileInfo): void {
    this.store(
      {
        ...entryOf(prev),
        deleted: true,
        size: 0,
        blocks: [],
        digest: "",
        version: bumpVersion(prev.version, this.device),
        modifiedBy: this.device,
      },
      null,
    );
  }

  private store(entry: Entry, stat: StatRecord | null): void {
    this.pending.push(this.db.putLocal(entry, stat));
    if (this.emitScheduled) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      const files = this.pending;
      this.pending = [];
      if (!this.closed && files.length > 0) this.emit("changed", files);
    });
  }
}
