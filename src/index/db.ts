/**
 * The local index in <share>/.left/index.db: this device's view of the share (with the stat each entry
 * was derived from), what peers announced, and resume state of partial downloads.
 *
 * WAL with synchronous=NORMAL: a committed transaction survives SIGKILL of the process (it is in the WAL,
 * handed to the kernel); a power cut may lose the last transactions but never corrupts the file.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { LEFT_DIR } from "./layout.js";
import {
  columnsToStat,
  type FileRow,
  fileToRow,
  rowBlocks,
  rowToFile,
  type StatColumns,
  statToColumns,
} from "./rows.js";
import { SCHEMA, SCHEMA_VERSION } from "./schema.js";
import type { DeviceId, FileInfo, StatRecord } from "./types.js";

export { LEFT_DIR } from "./layout.js";

export class IndexVersionError extends Error {
  override name = "IndexVersionError";
}

type LocalRow = FileRow & StatColumns;

interface Statements {
  getLocal: Database.Statement<[string], LocalRow>;
  localFileDigest: Database.Statement<[string], { digest: string }>;
  localStat: Database.Statement<[string], StatColumns>;
  localAll: Database.Statement<[], LocalRow>;
  localUnder: Database.Statement<[string, string], LocalRow>;
  localSince: Database.Statement<[number], LocalRow>;
  putLocal: Database.Statement<[LocalRow]>;
  blocksOf: Database.Statement<[string], { blocks: Buffer; deleted: number; type: string }>;
  dropBlock: Database.Statement<[string, number, string, number]>;
  updateStat: Database.Statement<[StatColumns & { path: string }]>;
  livePaths: Database.Statement<[], { path: string; sequence: number }>;
  livePathsLast: Database.Statement<[number], { path: string; sequence: number }>;
  livePathsBefore: Database.Statement<[string, number], { path: string; sequence: number }>;
  addBlock: Database.Statement<[string, number, string, number]>;
  maxSequence: Database.Statement<[], { seq: number | null }>;
  findBlock: Database.Statement<[string, number], { path: string; offset: number }>;
  findBlocks: Database.Statement<[string], { hash: string; size: number; path: string; offset: number }>;
  getMeta: Database.Statement<[string], { value: string }>;
  setMeta: Database.Statement<[string, string]>;
  putRemote: Database.Statement<[FileRow & { device: string }]>;
  getRemote: Database.Statement<[string, string], FileRow>;
  remoteAll: Database.Statement<[string], FileRow>;
  remoteSequence: Database.Statement<[string], { seq: number | null }>;
  remoteDevices: Database.Statement<[], { device: string }>;
  devicesHaving: Database.Statement<[string, string], { device: string }>;
  getPartial: Database.Statement<[string, string], { tmp_name: string }>;
  partialBlocks: Database.Statement<[string, string], { idx: number }>;
  startPartial: Database.Statement<[string, string, string]>;
  markDone: Database.Statement<[string, string, number]>;
  dropPartial: Database.Statement<[string, string]>;
  dropPartialBlocks: Database.Statement<[string, string]>;
  partials: Database.Statement<[], { path: string; digest: string; tmp_name: string }>;
}

const fileCols =
  "path, sequence, type, size, mtime_ms, mode, deleted, version, modified_by, blocks, digest, target";
const fileParams =
  "@path, @sequence, @type, @size, @mtime_ms, @mode, @deleted, @version, @modified_by, @blocks, @digest, @target";
const statCols = "st_type, st_size, st_mtime_ms, st_mode, st_ino, st_target";

/** The key of a block in findBlocks' answer. */
export function blockKey(hash: string, size: number): string {
  return `${hash}:${size}`;
}

export class IndexDb {
  readonly deviceId: DeviceId;
  private readonly db: Database.Database;
  private readonly q: Statements;
  private sequence: number;
  private readonly putLocalTx: (info: FileInfo, stat: StatRecord | null) => void;
  private readonly batchTx: (fn: () => unknown) => unknown;
  private readonly putRemoteTx: (device: DeviceId, files: FileInfo[]) => void;
  private readonly markDoneTx: (path: string, digest: string, indices: number[]) => void;
  private readonly dropPartialTx: (path: string, digest: string) => void;
  private readonly startPartialTx: (path: string, digest: string, tmpName: string) => void;

  /** Opens (creating if needed) <shareDir>/.left/index.db. */
  static open(shareDir: string): IndexDb {
    const dir = join(shareDir, LEFT_DIR);
    mkdirSync(dir, { recursive: true });
    return new IndexDb(new Database(join(dir, "index.db")));
  }

  private constructor(db: Database.Database) {
    this.db = db;
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    const found = db.pragma("user_version", { simple: true }) as number;
    if (found !== 0 && found !== SCHEMA_VERSION) {
      db.close();
      throw new IndexVersionError(
        `index.db has schema ${found}, this build reads ${SCHEMA_VERSION}; remove it to re-index the share ` +
          "from its files",
      );
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.q = prepare(db);

    const storedId = this.q.getMeta.get("device_id")?.value;
    this.deviceId = storedId ?? randomBytes(16).toString("hex");
    if (storedId === undefined) this.q.setMeta.run("device_id", this.deviceId);
    // Rows are only ever replaced by higher sequences, so the maximum is the last one assigned.
    this.sequence = this.q.maxSequence.get()?.seq ?? 0;

    this.putLocalTx = db.transaction((info: FileInfo, stat: StatRecord | null) => {
      const old = this.q.blocksOf.get(info.path);
      if (old && old.deleted === 0 && old.type === "file") {
        for (const b of rowBlocks(old.blocks, info.path))
          this.q.dropBlock.run(b.hash, b.size, info.path, b.offset);
      }
      this.q.putLocal.run({ ...fileToRow(info), ...statToColumns(stat) });
      if (info.deleted || info.type !== "file") return;
      for (const b of info.blocks) this.q.addBlock.run(b.hash, b.size, info.path, b.offset);
    });
    this.batchTx = db.transaction((fn: () => unknown) => fn());
    this.putRemoteTx = db.transaction((device: DeviceId, files: FileInfo[]) => {
      for (const f of files) this.q.putRemote.run({ device, ...fileToRow(f) });
    });
    this.markDoneTx = db.transaction((path: string, digest: string, indices: number[]) => {
      for (const i of indices) this.q.markDone.run(path, digest, i);
    });
    this.dropPartialTx = db.transaction((path: string, digest: string) => {
      this.q.dropPartial.run(path, digest);
      this.q.dropPartialBlocks.run(path, digest);
    });
    this.startPartialTx = db.transaction((path: string, digest: string, tmpName: string) => {
      if (this.q.getPartial.get(path, digest)?.tmp_name === tmpName) return;
      this.dropPartialTx(path, digest);
      this.q.startPartial.run(path, digest, tmpName);
    });
  }

  close(): void {
    this.db.close();
  }

  /**
   * Runs fn in one transaction: many writes, one commit (a commit costs ≈40–200 µs of main-thread time,
   * the writes inside a few µs each). Reads inside fn see its writes. If fn throws, nothing is kept.
   */
  batch<T>(fn: () => T): T {
    try {
      return this.batchTx(fn) as T;
    } catch (err) {
      this.sequence = this.q.maxSequence.get()?.seq ?? 0;
      throw err;
    }
  }

  getLocal(path: string): FileInfo | undefined {
    const row = this.q.getLocal.get(path);
    return row && rowToFile(row);
  }

  /**
   * The digest of the live regular file at `path`, without decoding its block list: the cheap "do we
   * have this version" check made for every block request.
   */
  localFileDigest(path: string): string | undefined {
    return this.q.localFileDigest.get(path)?.digest;
  }

  /** Every local entry, tombstones included, in path order. */
  localFiles(): FileInfo[] {
    return this.q.localAll.all().map(rowToFile);
  }

  /** Local entries strictly below the directory `dir` (not `dir` itself), in path order. */
  localUnder(dir: string): FileInfo[] {
    // "/" + 1 === "0": the half-open range [dir/, dir0) is exactly the paths starting with "dir/".
    return this.q.localUnder.all(`${dir}/`, `${dir}0`).map(rowToFile);
  }

  localSince(sequence: number): FileInfo[] {
    return this.q.localSince.all(sequence).map(rowToFile);
  }

  localSequence(): number {
    return this.sequence;
  }

  /** Stores a local entry under the next sequence, with the stat it was derived from (null: none). */
  putLocal(info: Omit<FileInfo, "sequence">, stat: StatRecord | null): FileInfo {
    const stored: FileInfo = { ...info, sequence: this.sequence + 1 };
    this.putLocalTx(stored, stat);
    this.sequence = stored.sequence;
    return stored;
  }

  /**
   * Records a new stat for an entry whose content did not change (e.g. touched, or rewritten with the
   * same bytes): no new version, no new sequence, nothing to announce.
   */
  updateStat(path: string, stat: StatRecord): void {
    this.q.updateStat.run({ path, ...statToColumns(stat) });
  }

  /** Paths and sequences of the live (not deleted) local entries: cheap, for deletion detection. */
  livePaths(): { path: string; sequence: number }[] {
    return this.q.livePaths.all();
  }

  /**
   * One page of livePaths() in descending path order (children before their parents): up to `limit`
   * live entries with paths before `before` (null: from the end).
   */
  livePathsBefore(before: string | null, limit: number): { path: string; sequence: number }[] {
    return before === null ? this.q.livePathsLast.all(limit) : this.q.livePathsBefore.all(before, limit);
  }

  getStat(path: string): StatRecord | undefined {
    const row = this.q.localStat.get(path);
    return row && columnsToStat(path, row);
  }

  putRemote(device: DeviceId, files: FileInfo[]): void {
    this.putRemoteTx(device, files);
  }

  getRemote(device: DeviceId, path: string): FileInfo | undefined {
    const row = this.q.getRemote.get(device, path);
    return row && rowToFile(row);
  }

  remoteFiles(device: DeviceId): FileInfo[] {
    return this.q.remoteAll.all(device).map(rowToFile);
  }

  remoteSequence(device: DeviceId): number {
    return this.q.remoteSequence.get(device)?.seq ?? 0;
  }

  /** Devices whose announcements are stored. */
  remoteDevices(): DeviceId[] {
    return this.q.remoteDevices.all().map((r) => r.device);
  }

  devicesHaving(path: string, digest: string): DeviceId[] {
    return this.q.devicesHaving.all(path, digest).map((r) => r.device);
  }

  /**
   * A local file whose indexed block list has this block. The file may have changed on disk since it was
   * indexed: callers must verify the bytes they read against the hash.
   */
  findBlock(hash: string, size: number): { path: string; offset: number } | undefined {
    return this.q.findBlock.get(hash, size);
  }

  /**
   * findBlock for many blocks in one query (a lookup each cost more in call overhead than in SQLite):
   * where a local file has each of them, keyed by blockKey. Same caveat: verify what you read.
   */
  findBlocks(
    blocks: readonly { hash: string; size: number }[],
  ): Map<string, { path: string; offset: number }> {
    const wanted = new Set(blocks.map((b) => blockKey(b.hash, b.size)));
    const found = new Map<string, { path: string; offset: number }>();
    for (const row of this.q.findBlocks.all(JSON.stringify(blocks.map((b) => b.hash)))) {
      const key = blockKey(row.hash, row.size);
      if (wanted.has(key) && !found.has(key)) found.set(key, { path: row.path, offset: row.offset });
    }
    return found;
  }

  getPartial(path: string, digest: string): { tmpName: string; done: Set<number> } | undefined {
    const row = this.q.getPartial.get(path, digest);
    if (!row) return undefined;
    const done = new Set(this.q.partialBlocks.all(path, digest).map((r) => r.idx));
    return { tmpName: row.tmp_name, done };
  }

  /**
   * Registers a download. Calling it again with the same tmp name keeps the recorded progress (resume);
   * a different tmp name starts over, since the blocks recorded as done are in the old file.
   */
  startPartial(path: string, digest: string, tmpName: string): void {
    this.startPartialTx(path, digest, tmpName);
  }

  markBlocksDone(path: string, digest: string, indices: number[]): void {
    this.markDoneTx(path, digest, indices);
  }

  dropPartial(path: string, digest: string): void {
    this.dropPartialTx(path, digest);
  }

  partials(): { path: string; digest: string; tmpName: string }[] {
    return this.q.partials.all().map((r) => ({ path: r.path, digest: r.digest, tmpName: r.tmp_name }));
  }
}

function prepare(db: Database.Database): Statements {
  return {
    getLocal: db.prepare(`SELECT ${fileCols}, ${statCols} FROM local WHERE path = ?`),
    localStat: db.prepare(`SELECT ${statCols} FROM local WHERE path = ?`),
    localFileDigest: db.prepare("SELECT digest FROM local WHERE path = ? AND type = 'file' AND deleted = 0"),
    localAll: db.prepare(`SELECT ${fileCols}, ${statCols} FROM local ORDER BY path`),
    localUnder: db.prepare(
      `SELECT ${fileCols}, ${statCols} FROM local WHERE path >= ? AND path < ? ORDER BY path`,
    ),
    localSince: db.prepare(`SELECT ${fileCols}, ${statCols} FROM local WHERE sequence > ? ORDER BY sequence`),
    putLocal: db.prepare(
      `INSERT OR REPLACE INTO local (${fileCols}, ${statCols})
       VALUES (${fileParams}, @st_type, @st_size, @st_mtime_ms, @st_mode, @st_ino, @st_target)`,
    ),
    blocksOf: db.prepare("SELECT blocks, deleted, type FROM local WHERE path = ?"),
    dropBlock: db.prepare("DELETE FROM local_blocks WHERE hash = ? AND size = ? AND path = ? AND offset = ?"),
    maxSequence: db.prepare("SELECT MAX(sequence) AS seq FROM local"),
    updateStat: db.prepare(
      `UPDATE local SET st_type = @st_type, st_size = @st_size, st_mtime_ms = @st_mtime_ms, st_mode = @st_mode,
       st_ino = @st_ino, st_target = @st_target WHERE path = @path`,
    ),
    livePaths: db.prepare("SELECT path, sequence FROM local WHERE deleted = 0 ORDER BY path"),
    // Two statements rather than "(? IS NULL OR path < ?)", which would defeat the seek on the key.
    livePathsLast: db.prepare(
      "SELECT path, sequence FROM local WHERE deleted = 0 ORDER BY path DESC LIMIT ?",
    ),
    livePathsBefore: db.prepare(
      "SELECT path, sequence FROM local WHERE path < ? AND deleted = 0 ORDER BY path DESC LIMIT ?",
    ),
    addBlock: db.prepare("INSERT OR IGNORE INTO local_blocks (hash, size, path, offset) VALUES (?, ?, ?, ?)"),
    findBlock: db.prepare("SELECT path, offset FROM local_blocks WHERE hash = ? AND size = ? LIMIT 1"),
    // Rows come in key order, so the first one per (hash, size) is the one findBlock's LIMIT 1 gives.
    findBlocks: db.prepare(
      "SELECT hash, size, path, offset FROM local_blocks WHERE hash IN (SELECT value FROM json_each(?))",
    ),
    getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    setMeta: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    putRemote: db.prepare(
      `INSERT OR REPLACE INTO remote (device, ${fileCols}) VALUES (@device, ${fileParams})`,
    ),
    getRemote: db.prepare(`SELECT ${fileCols} FROM remote WHERE device = ? AND path = ?`),
    remoteAll: db.prepare(`SELECT ${fileCols} FROM remote WHERE device = ? ORDER BY path`),
    remoteSequence: db.prepare("SELECT MAX(sequence) AS seq FROM remote WHERE device = ?"),
    remoteDevices: db.prepare("SELECT DISTINCT device FROM remote ORDER BY device"),
    devicesHaving: db.prepare(
      "SELECT device FROM remote WHERE path = ? AND digest = ? AND deleted = 0 ORDER BY device",
    ),
    getPartial: db.prepare("SELECT tmp_name FROM partials WHERE path = ? AND digest = ?"),
    partialBlocks: db.prepare("SELECT idx FROM partial_blocks WHERE path = ? AND digest = ?"),
    startPartial: db.prepare("INSERT INTO partials (path, digest, tmp_name) VALUES (?, ?, ?)"),
    markDone: db.prepare("INSERT OR IGNORE INTO partial_blocks (path, digest, idx) VALUES (?, ?, ?)"),
    dropPartial: db.prepare("DELETE FROM partials WHERE path = ? AND digest = ?"),
    dropPartialBlocks: db.prepare("DELETE FROM partial_blocks WHERE path = ? AND digest = ?"),
    partials: db.prepare("SELECT path, digest, tmp_name FROM partials ORDER BY path"),
  };
}
