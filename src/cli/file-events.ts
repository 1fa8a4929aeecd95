/**
 * One log line per entry a peer's change brought here (file.synced, file.removed), read from the local
 * index's change feed: every entry LEFT records gets the next sequence number, and an entry whose version
 * was made by another device arrived by sync. Local edits are logged at debug level only: the user made
 * them and knows.
 */
import type { IndexDb } from "../index/db.js";
import type { Logger } from "../util/log.js";

export type ChangeFeed = Pick<IndexDb, "localSince" | "localSequence" | "deviceId">;

export class FileEvents {
  private sequence: number;

  /** Starts after what the index holds now: earlier runs' changes are not news. */
  constructor(
    private readonly db: ChangeFeed,
    private readonly log: Logger,
  ) {
    this.sequence = db.localSequence();
  }

  poll(): void {
    if (this.db.localSequence() === this.sequence) return;
    for (const f of this.db.localSince(this.sequence)) {
      this.sequence = Math.max(this.sequence, f.sequence);
      const fields = { path: f.path, type: f.type, from: f.modifiedBy.slice(0, 8) };
      if (f.modifiedBy === this.db.deviceId) {
        this.log.log("debug", "file.local", f.deleted ? "local deletion recorded" : "local change recorded", {
          path: f.path,
          type: f.type,
        });
      } else if (f.deleted) {
        this.log.log("info", "file.removed", "removed, as on the peer", fields);
      } else {
        this.log.log("info", "file.synced", "synced from a peer", {
          ...fields,
          ...(f.type === "file" && { size: f.size }),
        });
      }
    }
  }
}
