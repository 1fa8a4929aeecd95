/**
 * Blocks a download can take from this host's own files instead of a peer: where the index (or the
 * recycle bin of recent deletions) says they are, and their bytes, read through handles kept open for
 * one assembly. The index may be stale: whatever is read is verified before use.
 */
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { blockKey } from "../index/db.js";
import type { BlockInfo } from "../index/types.js";
import { allocBulk, releaseBulk } from "../transport/types.js";
import type { SyncIndex } from "./ports.js";
import type { RecycleBin } from "./recycle.js";
import { badBlocks, type LocalSource } from "./run.js";

/** Blocks looked up in the index per query when planning an assembly. */
const LOOKUP_BATCH = 512;

/**
 * Reads blocks out of local files (indexed ones, or recently deleted ones in the recycle bin), keeping
 * each source file open for the duration of one assembly.
 */
export class LocalBlocks {
  private readonly handles = new Map<string, Promise<FileHandle | null>>();

  constructor(
    private readonly dir: string,
    private readonly db: SyncIndex,
    private readonly recycle: RecycleBin,
  ) {}

  /** Where our index (or the recycle bin) says a local file has this block: worth trying before a peer. */
  locate(b: BlockInfo): LocalSource | undefined {
    return this.source(b, this.db.findBlock(b.hash, b.size));
  }

  /**
   * locate() for the blocks of one file, asked in file order (as planRuns does): the index is queried
   * for LOOKUP_BATCH blocks at a time, not once per block (16k queries per GiB).
   */
  locator(blocks: readonly BlockInfo[]): (b: BlockInfo, index: number) => LocalSource | undefined {
    let from = 0;
    let to = 0;
    let found = new Map<string, { path: string; offset: number }>();
    return (b, index) => {
      if (index < from || index >= to) {
        from = index;
        to = Math.min(blocks.length, index + LOOKUP_BATCH);
        found = this.db.findBlocks(blocks.slice(from, to));
      }
      return this.source(b, found.get(blockKey(b.hash, b.size)));
    };
  }

  private source(b: BlockInfo, at: { path: string; offset: number } | undefined): LocalSource | undefined {
    return at ? { abs: join(this.dir, at.path), offset: at.offset } : this.recycle.find(b.hash, b.size);
  }

  /** The block's bytes if some local file still holds them (the index may be stale: verified here). */
  async read(b: BlockInfo): Promise<Uint8Array | null> {
    const at = this.locate(b);
    if (at === undefined) return null;
    const buf = await this.readAt(at, b.size);
    if (buf !== null && badBlocks(buf, [b]).length === 0) return buf;
    if (buf !== null) releaseBulk(buf);
    return null;
  }

  /** `size` bytes at `at`, unverified, in a pooled bulk buffer; null if the file is gone or shorter. */
  async readAt(at: LocalSource, size: number): Promise<Uint8Array | null> {
    const fh = await this.handle(at.abs);
    if (fh === null) return null;
    const buf = allocBulk(size);
    const { bytesRead } = await fh.read(buf, 0, size, at.offset).catch(() => ({ bytesRead: -1 }));
    if (bytesRead === size) return buf;
    releaseBulk(buf);
    return null;
  }

  /** The local file open for reading until close(), or null if it cannot be opened. */
  handle(abs: string): Promise<FileHandle | null> {
    let handle = this.handles.get(abs);
    if (handle === undefined) {
      handle = open(abs, "r").catch(() => null);
      this.handles.set(abs, handle);
    }
    return handle;
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await (await handle)?.close();
    this.handles.clear();
  }
}
