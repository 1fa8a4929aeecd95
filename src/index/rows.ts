/**
 * Conversion between FileInfo / StatRecord and their SQLite rows. Versions are JSON text (a few devices
 * each). Block lists are binary (block-list.ts, 12 B a block): a 1 GiB file has ≈16k blocks, and JSON of
 * that many costs milliseconds of main-thread time per write or read.
 */
import { decodeBlockList, encodeBlockList } from "./block-list.js";
import type { BlockInfo, EntryType, FileInfo, StatRecord, VersionVector } from "./types.js";

export interface FileRow {
  path: string;
  sequence: number;
  type: string;
  size: number;
  mtime_ms: number;
  mode: number;
  deleted: number;
  version: string;
  modified_by: string;
  blocks: Buffer;
  digest: string;
  target: string;
}

export interface StatColumns {
  st_type: string | null;
  st_size: number | null;
  st_mtime_ms: number | null;
  st_mode: number | null;
  st_ino: number | null;
  st_target: string | null;
}

/** The index only ever stores types it wrote itself; anything else means a corrupt or foreign file. */
export class IndexCorruptError extends Error {
  override name = "IndexCorruptError";
}

function entryType(value: string, path: string): EntryType {
  if (value === "file" || value === "dir" || value === "symlink") return value;
  throw new IndexCorruptError(
    `index row for ${JSON.stringify(path)} has unknown type ${JSON.stringify(value)}`,
  );
}

/** The block list stored in `path`'s row. */
export function rowBlocks(blob: unknown, path: string): BlockInfo[] {
  const blocks = blob instanceof Uint8Array ? decodeBlockList(blob) : null;
  if (blocks === null) {
    throw new IndexCorruptError(`index row for ${JSON.stringify(path)} has a malformed block list`);
  }
  return blocks;
}

export function fileToRow(info: FileInfo): FileRow {
  return {
    path: info.path,
    sequence: info.sequence,
    type: info.type,
    size: info.size,
    mtime_ms: info.mtimeMs,
    mode: info.mode,
    deleted: info.deleted ? 1 : 0,
    version: JSON.stringify(info.version),
    modified_by: info.modifiedBy,
    blocks: encodeBlockList(info.blocks),
    digest: info.digest,
    target: info.target,
  };
}

export function rowToFile(row: FileRow): FileInfo {
  return {
    path: row.path,
    type: entryType(row.type, row.path),
    size: row.size,
    mtimeMs: row.mtime_ms,
    mode: row.mode,
    deleted: row.deleted !== 0,
    version: JSON.parse(row.version) as VersionVector,
    modifiedBy: row.modified_by,
    sequence: row.sequence,
    blocks: rowBlocks(row.blocks, row.path),
    digest: row.digest,
    target: row.target,
  };
}

export function statToColumns(stat: StatRecord | null): StatColumns {
  if (stat === null) {
    return { st_type: null, st_size: null, st_mtime_ms: null, st_mode: null, st_ino: null, st_target: null };
  }
  return {
    st_type: stat.type,
    st_size: stat.size,
    st_mtime_ms: stat.mtimeMs,
    st_mode: stat.mode,
    st_ino: stat.ino,
    st_target: stat.target,
  };
}

export function columnsToStat(path: string, c: StatColumns): StatRecord | undefined {
  if (c.st_type === null) return undefined;
  return {
    path,
    type: entryType(c.st_type, path),
    size: c.st_size ?? 0,
    mtimeMs: c.st_mtime_ms ?? 0,
    mode: c.st_mode ?? 0,
    ino: c.st_ino ?? 0,
    target: c.st_target ?? "",
  };
}
