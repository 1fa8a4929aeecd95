/**
 * The data model shared by the index, the scanner, the hashing pipeline and the sync model.
 */

/** Stable identity of one share on one host: 16 random bytes, hex-encoded (32 chars). */
export type DeviceId = string;

/** One content-defined block of a file. */
export interface BlockInfo {
  offset: number;
  size: number;
  /** xxh64 of the block's bytes, 16 lowercase hex chars. */
  hash: string;
}

/** Version vector: device id → counter. A file version dominates another if it is >= everywhere. */
export type VersionVector = Record<DeviceId, number>;

export type EntryType = "file" | "dir" | "symlink";

/** What a device knows about one path. Deleted entries are tombstones and keep their version. */
export interface FileInfo {
  /** Relative POSIX path inside the share, validated (no "..", no absolute, no NUL, not under .left). */
  path: string;
  type: EntryType;
  size: number;
  mtimeMs: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  deleted: boolean;
  version: VersionVector;
  /** Device that made this version (for conflict copy names). */
  modifiedBy: DeviceId;
  /** Per-device monotonically increasing change counter, for incremental index updates. */
  sequence: number;
  /** Empty for dirs, symlinks and tombstones. */
  blocks: BlockInfo[];
  /** The whole-file digest (pipeline/digest.ts), lowercase hex; "" for dirs, symlinks and tombstones. */
  digest: string;
  /** Link target for symlinks (relative, validated), else "". */
  target: string;
}

/** Local-disk facts the scanner reports; compared with the index to find changes without hashing. */
export interface StatRecord {
  path: string;
  type: EntryType;
  size: number;
  mtimeMs: number;
  mode: number;
  ino: number;
  target: string;
}
