/**
 * Sends this host's index to peers, incrementally by local sequence: after a peer's HELLO ("from sequence
 * S") everything newer than S, and from then on every local change (scanned or pulled) as it is
 * recorded. Per peer only the last sequence sent is kept, so nothing is sent twice or skipped.
 */
import type { FileInfo } from "../index/types.js";
import type { Connection } from "../transport/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import type { SyncIndex } from "./ports.js";
import { encodeIndex, MAX_BLOCKS, MAX_INDEX_BATCH } from "./protocol.js";

/** Rough encoded size an INDEX message should stay under (big block lists make few entries heavy). */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * End (exclusive) of the batch starting at `start`: at most MAX_INDEX_BATCH entries, MAX_BLOCKS blocks
 * and ≈BATCH_BYTES (one entry may exceed that alone). Entries have at most MAX_BLOCKS blocks each.
 */
function batchEnd(files: readonly FileInfo[], start: number): number {
  let bytes = 0;
  let blocks = 0;
  let end = start;
  while (end < files.length && end - start < MAX_INDEX_BATCH) {
    const f = files[end]!;
    bytes += 128 + f.path.length + f.target.length + f.blocks.length * 12;
    blocks += f.blocks.length;
    if ((bytes > BATCH_BYTES || blocks > MAX_BLOCKS) && end > start) break;
    end++;
  }
  return end;
}

export class Announcer {
  /** Peers that sent HELLO → highest local sequence sent to them. */
  private readonly sent = new Map<Connection, number>();
  private timer: TimerHandle | null = null;

  constructor(
    private readonly db: SyncIndex,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Local changes arriving within this window go out together. */
    private readonly batchMs = 20,
  ) {}

  /** The peer asks for entries after `since`: send them now, marked complete. */
  hello(conn: Connection, since: number): void {
    // A peer that claims to know more than we ever had is looking at an index we no longer have.
    this.sent.set(conn, since > this.db.localSequence() ? 0 : since);
    this.flush(conn, true);
  }

  peerDown(conn: Connection): void {
    this.sent.delete(conn);
  }

  /** Local entries changed: announce them shortly (coalescing bursts into few messages). */
  changed(): void {
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = null;
      for (const conn of this.sent.keys()) this.flush(conn, false);
    }, this.batchMs);
  }

  /** Every peer that asked has been sent everything up to our current sequence. */
  get caughtUp(): boolean {
    const seq = this.db.localSequence();
    for (const s of this.sent.values()) if (s < seq) return false;
    return this.timer === null;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private flush(conn: Connection, always: boolean): void {
    const from = this.sent.get(conn);
    if (from === undefined) return;
    const all = this.db.localSince(from);
    const files = all.filter((f) => this.announceable(f));
    if (files.length === 0 && !always) return;
    let start = 0;
    do {
      const end = batchEnd(files, start);
      conn.sendMessage(encodeIndex(files.slice(start, end), end === files.length));
      start = end;
    } while (start < files.length);
    if (all.length > 0) this.sent.set(conn, all[all.length - 1]!.sequence);
  }

  /** Peers refuse a message with a file of more than MAX_BLOCKS blocks: such a file is not announced. */
  private announceable(f: FileInfo): boolean {
    if (f.blocks.length <= MAX_BLOCKS) return true;
    this.log.log(
      "warn",
      "sync.too_many_blocks",
      "file has too many blocks to be announced; use a larger --block-size",
      {
        path: f.path,
        blocks: f.blocks.length,
        limit: MAX_BLOCKS,
      },
    );
    return false;
  }
}
