/**
 * The hashing tasks executed on the piscina threads (workers/block-worker.ts is only the entry point).
 * Workers read the file themselves with positional reads into one reusable buffer per thread: nothing
 * crosses the thread boundary but offsets and a few hashes, so there is no buffer to copy or move, and
 * memory per thread is bounded by the largest read, never by the file size.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { type Candidates, chunkBuffer, cutMasks, GEAR_WARMUP, rollHash, scanCandidates } from "./chunker.js";
import { contentDigest, newSegmentHash, segmentRange } from "./digest.js";
import { xxh64Hex, xxh64Stream } from "./hash.js";
import type { ChunkParams, HashedFile } from "./types.js";

/** Reads larger than this are split; 4 MiB is past the point where syscall overhead stops mattering. */
const READ_PIECE = 4 << 20;

/**
 * Set to 1 by the main thread to stop the tasks of one file early (it changed, nobody wants the result).
 * A SharedArrayBuffer view, so a running task sees the store without a message round trip.
 */
export type CancelFlag = Int32Array;

export type BlockTask =
  /** Small files, each read whole into the buffer: one task for many files saves the per-task overhead. */
  | { kind: "files"; files: { path: string; size: number }[]; params: ChunkParams }
  | { kind: "candidates"; path: string; start: number; end: number; params: ChunkParams; cancel?: CancelFlag }
  | { kind: "blocks"; path: string; offsets: number[]; sizes: number[]; cancel?: CancelFlag }
  /**
   * Consecutive blocks of one local file copied into a file under assembly, each verified against its
   * xxh64 first; the value lists the blocks that did not match (not written), all of them if `from`
   * is too short. Errors writing `to` fail the task. Both are descriptors of this process, which the
   * main thread keeps open until the task is over: opening the file under assembly here and closing it
   * after each run made ext4 start writing back the whole file at every close (5 CPU-s per GiB).
   * `writeLock` (a shared Int32Array, one per file written) lets one task at a time write into `to`:
   * ext4 serializes buffered writes to a file anyway, and a thread waiting for that kernel lock spins
   * on its CPU (a fifth of the pool's CPU in a 1 GiB rebuild) where Atomics.wait sleeps.
   */
  | {
      kind: "copy";
      fromFd: number;
      fromOffset: number;
      toFd: number;
      toOffset: number;
      blocks: CopiedBlock[];
      writeLock: Int32Array;
    }
  /** The hash of digest segment `index` of a file of `size` bytes (see digest.ts). */
  | { kind: "segment"; path: string; size: number; index: number; cancel?: CancelFlag };

export interface TaskValues {
  files: FileResult[];
  candidates: Candidates;
  blocks: string[];
  segment: Uint8Array;
  copy: number[];
}

export interface CopiedBlock {
  size: number;
  hash: string;
}

/** Errors are returned as data: class identity does not survive the thread boundary, `code` does. */
export type TaskFailure = { ok: false; code: string; message: string };
export type TaskResult<K extends BlockTask["kind"]> = { ok: true; value: TaskValues[K] } | TaskFailure;
export type FileResult = { ok: true; value: HashedFile } | TaskFailure;

/** The file ended before the size it had when hashing started: it is being modified. */
export class FileChangedError extends Error {
  override name = "FileChangedError";
  readonly code = "changed";
}

export class TaskCancelledError extends Error {
  override name = "TaskCancelledError";
  readonly code = "aborted";
}

function checkCancel(cancel: CancelFlag | undefined): void {
  if (cancel !== undefined && Atomics.load(cancel, 0) !== 0)
    throw new TaskCancelledError("hashing cancelled");
}

let scratch = Buffer.allocUnsafe(0);

function buffer(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
  return scratch;
}

/** Fills buf[0, length) from `position`, failing if the file is shorter than expected. */
function readExactly(fd: number, path: string, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new FileChangedError(`${path} shrank while being hashed`);
    done += n;
  }
}

function withFile<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function hashWhole(path: string, size: number, params: ChunkParams): HashedFile {
  const data = buffer(size).subarray(0, size);
  withFile(path, (fd) => readExactly(fd, path, data, size, 0));
  const blocks = chunkBuffer(data, params).map((b) => ({
    offset: b.offset,
    size: b.size,
    hash: xxh64Hex(data.subarray(b.offset, b.offset + b.size)),
  }));
  return { size, blocks, digest: contentDigest(data) };
}

function hashFiles(t: Extract<BlockTask, { kind: "files" }>): FileResult[] {
  return t.files.map((f) => {
    try {
      return { ok: true, value: hashWhole(f.path, f.size, t.params) };
    } catch (err) {
      return failure(err);
    }
  });
}

function findCandidates(t: Extract<BlockTask, { kind: "candidates" }>): Candidates {
  checkCancel(t.cancel);
  const from = Math.max(0, t.start - GEAR_WARMUP);
  const warmup = t.start - from;
  const length = t.end - from;
  const data = buffer(length);
  withFile(t.path, (fd) => readExactly(fd, t.path, data, length, from));
  const out: Candidates = { ends: [], strong: [] };
  const h = rollHash(data, 0, warmup, 0);
  scanCandidates(data, warmup, length, h, cutMasks(t.params), from, out);
  return out;
}

/** Feeds bytes [start, end) of the open file to `update` in READ_PIECE reads, checking `cancel` first. */
function streamRange(
  fd: number,
  path: string,
  start: number,
  end: number,
  cancel: CancelFlag | undefined,
  update: (piece: Uint8Array) => void,
): void {
  const data = buffer(READ_PIECE);
  for (let at = start; at < end; ) {
    checkCancel(cancel);
    const n = Math.min(READ_PIECE, end - at);
    readExactly(fd, path, data, n, at);
    update(data.subarray(0, n));
    at += n;
  }
}

function hashBlocks(t: Extract<BlockTask, { kind: "blocks" }>): string[] {
  return withFile(t.path, (fd) =>
    t.offsets.map((offset, i) => {
      const hasher = xxh64Stream();
      streamRange(fd, t.path, offset, offset + t.sizes[i], t.cancel, (piece) => hasher.update(piece));
      return hasher.digestHex();
    }),
  );
}

function segmentHash(t: Extract<BlockTask, { kind: "segment" }>): Uint8Array {
  const { start, end } = segmentRange(t.size, t.index);
  const hash = newSegmentHash();
  withFile(t.path, (fd) => streamRange(fd, t.path, start, end, t.cancel, (piece) => hash.update(piece)));
  return hash.digest();
}

/** Reads exactly `length` bytes at `position`, or returns false if the file is shorter or unreadable. */
function readSource(fd: number, data: Buffer, length: number, position: number): boolean {
  try {
    readExactly(fd, "source", data, length, position);
    return true;
  } catch {
    return false;
  }
}

function copyBlocks(t: Extract<BlockTask, { kind: "copy" }>): number[] {
  const total = t.blocks.reduce((sum, b) => sum + b.size, 0);
  const data = buffer(total);
  if (!readSource(t.fromFd, data, total, t.fromOffset)) return t.blocks.map((_, i) => i);
  const bad: number[] = [];
  // Good blocks next to each other go out in one write: a syscall per run, not per block.
  const spans: [start: number, end: number][] = [];
  let at = 0;
  for (const [i, b] of t.blocks.entries()) {
    const last = spans.at(-1);
    if (xxh64Hex(data.subarray(at, at + b.size)) !== b.hash) bad.push(i);
    else if (last !== undefined && last[1] === at) last[1] += b.size;
    else spans.push([at, at + b.size]);
    at += b.size;
  }
  while (Atomics.compareExchange(t.writeLock, 0, 0, 1) !== 0) Atomics.wait(t.writeLock, 0, 1);
  try {
    for (const [start, end] of spans) writeAll(t.toFd, data.subarray(start, end), t.toOffset + start);
  } finally {
    Atomics.store(t.writeLock, 0, 0);
    Atomics.notify(t.writeLock, 0, 1);
  }
  return bad;
}

/** A write that fills the disk can be short rather than fail; the next one then fails with ENOSPC. */
function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; )
    done += writeSync(fd, data, done, data.length - done, position + done);
}

function execute(task: BlockTask): TaskValues[BlockTask["kind"]] {
  switch (task.kind) {
    case "files":
      return hashFiles(task);
    case "candidates":
      return findCandidates(task);
    case "blocks":
      return hashBlocks(task);
    case "segment":
      return segmentHash(task);
    case "copy":
      return copyBlocks(task);
  }
}

function failure(err: unknown): TaskFailure {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, code: typeof e.code === "string" ? e.code : "EUNKNOWN", message: String(e.message) };
}

export function runTask(task: BlockTask): TaskResult<BlockTask["kind"]> {
  try {
    return { ok: true, value: execute(task) };
  } catch (err) {
    return failure(err);
  }
}
