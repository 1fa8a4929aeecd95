/**
 * Free space for downloads. A file is started only when the file system holding `.left/tmp` has room
 * for the rest of it, beyond what the downloads under way still have to write and a little headroom for
 * the index: a peer announcing a file larger than the disk (or many large files at once) costs a log
 * line and a later retry, not a full disk.
 */
import { statfs } from "node:fs/promises";

/** Bytes available to this process on the file system holding `dir` (the seam tests replace). */
export type FreeBytes = (dir: string) => Promise<number>;

export const statfsFree: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

/** Left free for the index, status file and recycle bin, which need space to record the downloads. */
export const DISK_HEADROOM_BYTES = 8 * 1024 * 1024;

/** Bytes a download has claimed and not written yet; released as it writes and when it ends. */
export class Reservation {
  constructor(
    private readonly space: DiskSpace,
    private left: number,
  ) {}

  written(bytes: number): void {
    const n = Math.min(bytes, this.left);
    this.left -= n;
    this.space.unreserve(n);
  }

  release(): void {
    this.written(this.left);
  }
}

export class DiskSpace {
  private reserved = 0;

  constructor(
    private readonly dir: string,
    private readonly freeBytes: FreeBytes = statfsFree,
  ) {}

  /**
   * Claims `bytes` for one download, or says how many bytes are free for it (after other downloads'
   * claims and the headroom). A file system that cannot report its free space admits everything: the
   * writes then fail with ENOSPC, which is handled too.
   */
  async reserve(bytes: number): Promise<Reservation | { free: number }> {
    const total = await this.freeBytes(this.dir).catch(() => Number.POSITIVE_INFINITY);
    const free = total - DISK_HEADROOM_BYTES - this.reserved;
    if (bytes > free) return { free: Math.max(0, free) };
    this.reserved += bytes;
    return new Reservation(this, bytes);
  }

  /** Bytes claimed by downloads under way and not written yet. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** For Reservation only. */
  unreserve(bytes: number): void {
    this.reserved -= bytes;
  }
}
