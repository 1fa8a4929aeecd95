/**
 * Per-file download progress for the progress bars and `left status`. The sync engine reports only how
 * many entries are still needed; what it does record per file is the resume state of each multi-block
 * download in the index (which blocks are done). That is read here: a file of one block (≤ 4 × the
 * block size) has no such record and only shows in the entry count.
 */
import type { IndexDb } from "../index/db.js";
import { eta, RateMeter } from "./rate.js";

export type TransferIndex = Pick<IndexDb, "partials" | "getPartial" | "devicesHaving" | "getRemote">;

export interface Transfer {
  path: string;
  size: number;
  /** Bytes of the file already verified and written into its tmp copy. */
  done: number;
  bytesPerSec: number;
  /** Seconds to go at the current rate; null when nothing arrives (e.g. no peer has it right now). */
  etaSec: number | null;
}

interface Tracked {
  blockSizes: number[];
  size: number;
  meter: RateMeter;
}

export class TransferWatch {
  /** By `digest:path`: a new version of a path is a new download. */
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly db: TransferIndex) {}

  /** The downloads under way, largest first; `nowMs` from a monotonic clock. */
  poll(nowMs: number): Transfer[] {
    const out: Transfer[] = [];
    const seen = new Set<string>();
    for (const p of this.db.partials()) {
      const key = `${p.digest}:${p.path}`;
      const t = this.tracked.get(key) ?? this.track(key, p.path, p.digest);
      const partial = t && this.db.getPartial(p.path, p.digest);
      if (t === undefined || partial === undefined) continue;
      seen.add(key);
      let done = 0;
      for (const i of partial.done) done += t.blockSizes[i] ?? 0;
      const bytesPerSec = t.meter.sample(done, nowMs);
      out.push({
        path: p.path,
        size: t.size,
        done,
        bytesPerSec: Math.round(bytesPerSec),
        etaSec: eta(t.size - done, bytesPerSec),
      });
    }
    for (const key of this.tracked.keys()) if (!seen.has(key)) this.tracked.delete(key);
    return out.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
  }

  /** Block sizes of the version being downloaded, from any peer that announced it. */
  private track(key: string, path: string, digest: string): Tracked | undefined {
    for (const device of this.db.devicesHaving(path, digest)) {
      const f = this.db.getRemote(device, path);
      if (f === undefined || f.digest !== digest) continue;
      const t = { blockSizes: f.blocks.map((b) => b.size), size: f.size, meter: new RateMeter() };
      this.tracked.set(key, t);
      return t;
    }
    return undefined;
  }
}
