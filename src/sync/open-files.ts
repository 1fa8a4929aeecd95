/**
 * Read-only file handles kept open between block requests: serving a large file block by block would
 * otherwise open and close it once per block, which costs more main-thread time than the read itself.
 * A handle may outlive the file's name (renamed or replaced): callers verify what they read and evict
 * the handle when it does not match.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import type { Clock, TimerHandle } from "../util/clock.js";

interface Entry {
  fh: Promise<FileHandle | null>;
  users: number;
  idle: TimerHandle | null;
  evicted: boolean;
}

/** The last component is never followed: a symlink placed where an indexed file was is not read through. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

export class OpenFiles {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly idleMs = 2000,
    private readonly max = 32,
  ) {}

  /** Reads `length` bytes at `position` into `buf`; false if the file cannot be opened or is shorter. */
  async read(abs: string, buf: Uint8Array, length: number, position: number): Promise<boolean> {
    const entry = this.acquire(abs);
    try {
      const fh = await entry.fh;
      if (fh === null) {
        this.evict(abs);
        return false;
      }
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return bytesRead === length;
    } catch {
      return false;
    } finally {
      this.releaseEntry(abs, entry);
    }
  }

  /** Closes the handle of `abs` (once its current readers are done): the next read opens the path afresh. */
  evict(abs: string): void {
    const entry = this.entries.get(abs);
    if (entry === undefined) return;
    this.entries.delete(abs);
    entry.evicted = true;
    if (entry.users === 0) this.closeEntry(entry);
  }

  close(): void {
    for (const abs of [...this.entries.keys()]) this.evict(abs);
  }

  private acquire(abs: string): Entry {
    let entry = this.entries.get(abs);
    if (entry === undefined) {
      if (this.entries.size >= this.max) this.evict(this.entries.keys().next().value as string);
      entry = { fh: open(abs, READ_FLAGS).catch(() => null), users: 0, idle: null, evicted: false };
      this.entries.set(abs, entry);
    }
    entry.idle?.cancel();
    entry.idle = null;
    entry.users++;
    return entry;
  }

  private releaseEntry(abs: string, entry: Entry): void {
    entry.users--;
    if (entry.users > 0) return;
    if (entry.evicted) this.closeEntry(entry);
    else entry.idle = this.clock.setTimeout(() => this.evict(abs), this.idleMs);
  }

  private closeEntry(entry: Entry): void {
    entry.idle?.cancel();
    void entry.fh.then((fh) => fh?.close()).catch(() => undefined);
  }
}
