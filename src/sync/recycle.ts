/**
 * Files deleted by sync are moved aside into `<share>/.left/recycle/` for a while instead of being
 * unlinked, and their blocks stay findable. A rename on a peer arrives as "delete old path" plus "create
 * new path" in either order: if the deletion is applied first, the new path's blocks are still copied
 * from here instead of crossing the network again.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { FileInfo } from "../index/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";

export const RECYCLE_DIR = ".left/recycle";

interface Recycled {
  abs: string;
  /** `${hash}:${size}` → offset in the recycled file. */
  blocks: Map<string, number>;
  timer: TimerHandle;
}

export class RecycleBin {
  private readonly entries = new Map<string, Recycled>();
  private readonly dir: string;

  constructor(
    shareDir: string,
    private readonly clock: Clock,
    /** How long a deleted file's blocks stay available. */
    private readonly retainMs = 120_000,
    /** Files kept at most; the oldest go first. */
    private readonly maxFiles = 256,
  ) {
    this.dir = join(shareDir, RECYCLE_DIR);
  }

  /** Empties the bin left by an earlier run: its index of blocks did not survive. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) await unlink(join(this.dir, name)).catch(() => undefined);
  }

  /** Moves the file at `abs` (whose indexed content is `info`) into the bin. */
  async keep(abs: string, info: FileInfo): Promise<void> {
    const name = randomBytes(8).toString("hex");
    const kept = join(this.dir, name);
    await rename(abs, kept);
    const blocks = new Map<string, number>();
    for (const b of info.blocks) blocks.set(`${b.hash}:${b.size}`, b.offset);
    const timer = this.clock.setTimeout(() => this.drop(name), this.retainMs);
    this.entries.set(name, { abs: kept, blocks, timer });
    if (this.entries.size > this.maxFiles) this.drop(this.entries.keys().next().value as string);
  }

  /** A recycled file holding this block (verify the bytes: the bin is best effort). */
  find(hash: string, size: number): { abs: string; offset: number } | undefined {
    const key = `${hash}:${size}`;
    for (const e of this.entries.values()) {
      const offset = e.blocks.get(key);
      if (offset !== undefined) return { abs: e.abs, offset };
    }
    return undefined;
  }

  /** Removes everything now (shutdown). */
  close(): void {
    for (const name of [...this.entries.keys()]) this.drop(name);
  }

  private drop(name: string): void {
    const e = this.entries.get(name);
    if (e === undefined) return;
    e.timer.cancel();
    this.entries.delete(name);
    unlink(e.abs).catch(() => undefined);
  }
}
