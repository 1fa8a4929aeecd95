/**
 * The on-disk layout of index.db. Bumping SCHEMA_VERSION without a migration makes open() refuse the old
 * file instead of misreading it.
 */
export const SCHEMA_VERSION = 4;

// Version 2: blocks is a BLOB (block-list.ts) instead of JSON text. Version 3: digests of files over
// 8 MiB are segment trees (pipeline/digest.ts), same layout. Version 4: digests are BLAKE3, not
// SHA-256, same layout. Older files are refused, not migrated: no deployed index needs carrying over,
// and re-indexing from scratch is always correct.

// st_ino is REAL: 64-bit inode numbers (xfs, btrfs) arrive from fs.lstat as doubles beyond int64 range.

/** Columns shared by the local and remote file tables: one FileInfo per row. */
const fileColumns = `
  path TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  type TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  mode INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  version TEXT NOT NULL,
  modified_by TEXT NOT NULL,
  blocks BLOB NOT NULL,
  digest TEXT NOT NULL,
  target TEXT NOT NULL`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

CREATE TABLE IF NOT EXISTS local (${fileColumns},
  st_type TEXT, st_size INTEGER, st_mtime_ms REAL, st_mode INTEGER, st_ino REAL, st_target TEXT,
  PRIMARY KEY (path)) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS local_by_sequence ON local (sequence);

-- One b-tree only (no rowid, no secondary index): rows are removed by their full key, taken from the
-- block list being replaced, which keeps a small file's commit to three pages (local, its sequence
-- index, local_blocks).
CREATE TABLE IF NOT EXISTS local_blocks (
  hash TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL,
  PRIMARY KEY (hash, size, path, offset)) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS remote (device TEXT NOT NULL, ${fileColumns},
  PRIMARY KEY (device, path)) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS remote_by_sequence ON remote (device, sequence);
CREATE INDEX IF NOT EXISTS remote_by_content ON remote (path, digest);

CREATE TABLE IF NOT EXISTS partials (
  path TEXT NOT NULL, digest TEXT NOT NULL, tmp_name TEXT NOT NULL, PRIMARY KEY (path, digest)) STRICT;
CREATE TABLE IF NOT EXISTS partial_blocks (
  path TEXT NOT NULL, digest TEXT NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY (path, digest, idx)) STRICT, WITHOUT ROWID;
`;
