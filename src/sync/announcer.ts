/**
 * Sends this host's index to peers, incrementally by local sequence: after a peer's HELLO ("from sequence
 * S") everything newer than S, and from then on every local change (scanned or pulled) as it is
 * recorded. Per peer only the last sequence sent is kept, so nothing is sent twice or skipped.
 *
 * A big file's block list goes out as a delta against the entry the peer announced for that path, when
 * that is smaller (block-delta.ts), unless the peer's last HELLO asked for full lists.
 */
import type { FileInfo } from "../index/types.js";
import type { Connection } from "../transport/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { type AnnouncedEntry, announcedBlocks, deltaAgainst, MIN_DELTA_BLOCKS } from "./block-delta.js";
import type { SyncIndex } from "./ports.js";
import { blockListBytes, encodeIndex, MAX_BLOCKS, MAX_INDEX_BATCH } from "./protocol.js";

/** Rough encoded size an INDEX message should stay under (big block lists make few entries heavy). */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * End (exclusive) of the batch starting at `start`: at most MAX_INDEX_BATCH entries, MAX_BLOCKS blocks
 * and ≈BATCH_BYTES (one entry may exceed that alone). Entries have at most MAX_BLOCKS blocks each.
 */
function batchEnd(files: readonly AnnouncedEntry[], start: number): number {
  let bytes = 0;
  let blocks = 0;
  let end = start;
  while (end < files.length && end - start < MAX_INDEX_BATCH) {
    const f = files[end]!;
    bytes += 128 + f.path.length + f.target.length + blockListBytes(f);
    blocks += announcedBlocks(f);
    if ((bytes > BATCH_BYTES || blocks > MAX_BLOCKS) && end > start) break;
    end++;
  }
  return end;
}

interface PeerState {
  /** Highest local sequence sent. */
  sent: number;
  /** Block lists go out in full (the peer's last HELLO asked for it). */
  full: boolean;
}

export class Announcer {
  /** Peers that sent HELLO. */
  private readonly peers = new Map<Connection, PeerState>();
  private timer: TimerHandle | null = null;

  constructor(
    private readonly db: SyncIndex,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Local changes arriving within this window go out together. */
    private readonly batchMs = 20,
  ) {}

  /**
   * The peer asks for entries after `since`: send them now, the first message marked as the reply and
   * the last as complete. `full`: block lists in full, now and until the peer's next HELLO.
   */
  hello(conn: Connection, since: number, full: boolean): void {
    // A peer that claims to know more than we ever had is looking at an index we no longer have.
    this.peers.set(conn, { sent: since > this.db.localSequence() ? 0 : since, full });
    this.flush(conn, true);
  }

  peerDown(conn: Connection): void {
    this.peers.delete(conn);
  }

  /** Local entries changed: announce them shortly (coalescing bursts into few messages). */
  changed(): void {
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = null;
      for (const conn of this.peers.keys()) this.flush(conn, false);
    }, this.batchMs);
  }

  /** Every peer that asked has been sent everything up to our current sequence. */
  get caughtUp(): boolean {
    const seq = this.db.localSequence();
    for (const p of this.peers.values()) if (p.sent < seq) return false;
    return this.timer === null;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** `reply`: this answers a HELLO, and is sent even when there is nothing new. */
  private flush(conn: Connection, reply: boolean): void {
    const peer = this.peers.get(conn);
    if (peer === undefined) return;
    const all = this.db.localSince(peer.sent);
    const files = all.filter((f) => this.announceable(f)).map((f) => this.entry(f, conn.deviceId, peer.full));
    if (files.length === 0 && !reply) return;
    let start = 0;
    do {
      const end = batchEnd(files, start);
      conn.sendMessage(encodeIndex(files.slice(start, end), end === files.length, reply && start === 0));
      start = end;
    } while (start < files.length);
    if (all.length > 0) peer.sent = all[all.length - 1]!.sequence;
  }

  /** `f` as announced to `device`: with a delta against that device's entry for the path if smaller. */
  private entry(f: FileInfo, device: string, full: boolean): AnnouncedEntry {
    if (full || f.deleted || f.type !== "file" || f.blocks.length < MIN_DELTA_BLOCKS) return f;
    const base = this.db.getRemote(device, f.path);
    if (base === undefined || base.deleted || base.type !== "file") return f;
    const delta = deltaAgainst(f, base);
    return blockListBytes(delta) < blockListBytes(f) ? delta : f;
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
