/**
 * Where the time of one LEFT sync goes, seen from outside the daemons (they log no per-file timings):
 *
 *   indexedA    A's index holds the new digest for the path: scanner noticed, settled, hashed, recorded
 *   announcedB  B's index holds A's announcement of it: INDEX sent, carried, validated, stored
 *   tmpB        B created its `.left/tmp/*.part`: the pull was planned and started
 *   writtenB    every byte of the tmp file is allocated: all blocks fetched or copied and written
 *   placedB     the final file is in place (set by the caller): whole-file SHA-256, chmod, utimes, rename
 *
 * Each is the first poll (every ≈10 ms) at which it was seen, in seconds after the change. The indexes
 * are read with read-only SQLite connections (WAL: no lock against the daemons), in the layout of
 * src/index/schema.ts; if that layout moves on, the index milestones read null instead of failing.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { fileState } from "./sync-data.js";

export const MILESTONES = ["indexedA", "announcedB", "tmpB", "writtenB", "placedB"] as const;
export type Milestone = (typeof MILESTONES)[number];

/** One column of one row of a share's index, or undefined when it cannot be read. */
class IndexProbe {
  private readonly db: Database.Database | null;
  private readonly stmt: Database.Statement<[string], { digest: string }> | null;

  constructor(share: string, table: "local" | "remote") {
    try {
      this.db = new Database(join(share, ".left", "index.db"), { readonly: true, fileMustExist: true });
      this.stmt = this.db.prepare(`SELECT digest FROM ${table} WHERE path = ?`);
    } catch {
      this.db = null;
      this.stmt = null;
    }
  }

  digest(path: string): string | null | undefined {
    try {
      return this.stmt === null ? undefined : (this.stmt.get(path)?.digest ?? null);
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.db?.close();
  }
}

function partFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.endsWith(".part"));
  } catch {
    return [];
  }
}

export class LeftPhases {
  private readonly seen = new Map<Milestone, number>();
  private readonly a: IndexProbe;
  private readonly b: IndexProbe;
  private readonly tmpDir: string;
  private readonly digestA: string | null | undefined;
  private readonly digestB: string | null | undefined;
  private readonly oldParts: Set<string>;
  private part: string | null = null;

  /** Call just before the change: what is there now is the "before". */
  constructor(
    aShare: string,
    bShare: string,
    private readonly path: string,
    private readonly size: number,
    private readonly t0: number,
  ) {
    this.a = new IndexProbe(aShare, "local");
    this.b = new IndexProbe(bShare, "remote");
    this.tmpDir = join(bShare, ".left", "tmp");
    this.digestA = this.a.digest(path);
    this.digestB = this.b.digest(path);
    this.oldParts = new Set(partFiles(this.tmpDir));
  }

  private mark(m: Milestone, now: number): void {
    if (!this.seen.has(m)) this.seen.set(m, (now - this.t0) / 1000);
  }

  /** Looks for every milestone not yet seen; `now` in performance.now() milliseconds. */
  poll(now: number): void {
    if (!this.seen.has("indexedA")) {
      const d = this.a.digest(this.path);
      if (d !== undefined && d !== null && d !== this.digestA) this.mark("indexedA", now);
    }
    if (!this.seen.has("announcedB")) {
      const d = this.b.digest(this.path);
      if (d !== undefined && d !== null && d !== this.digestB) this.mark("announcedB", now);
    }
    if (this.part === null) {
      this.part = partFiles(this.tmpDir).find((n) => !this.oldParts.has(n)) ?? null;
      if (this.part !== null) this.mark("tmpB", now);
    }
    if (this.part !== null && !this.seen.has("writtenB")) {
      const st = fileState(join(this.tmpDir, this.part));
      if (st !== null && st.allocated >= this.size - (this.size % 4096)) this.mark("writtenB", now);
    }
  }

  /** Bytes allocated so far in the tmp file of this pull (0 before it exists). */
  tmpAllocated(): number {
    return this.part === null ? 0 : (fileState(join(this.tmpDir, this.part))?.allocated ?? 0);
  }

  placed(now: number): void {
    this.mark("placedB", now);
  }

  /** Milestones in seconds after the change, null where never seen; closes the index connections. */
  result(): Record<Milestone, number | null> {
    this.a.close();
    this.b.close();
    return Object.fromEntries(MILESTONES.map((m) => [m, this.seen.get(m) ?? null])) as Record<
      Milestone,
      number | null
    >;
  }
}
