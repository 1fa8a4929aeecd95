/**
 * The piscina pool running workers/block-worker.ts, and hashFile: the one operation that turns a file
 * into its block list and digest.
 *
 * Small files (up to wholeFileLimit) are read whole by one task; requests arriving in the same tick are
 * coalesced into one task of up to 64 files / wholeFileLimit bytes, since a task round trip (≈100 µs)
 * costs more than hashing a small file. A big file is split so that both cores work on it:
 *   1. segment tasks find candidate cut points in parallel (the gear hash is local, see chunker.ts), and
 *      the main thread joins them in order with CutPlanner (microseconds per segment);
 *   2. beside each, a task hashes the same bytes' digest segments (digest.ts: a tree, so that the hash,
 *      BLAKE3 at ≈7.5 GB/s a core, is spread over the cores too);
 *   3. as blocks become final they are batched into xxh64 tasks.
 * Every task reads the file itself, so only offsets and hashes cross threads.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import type { BlockInfo } from "../index/types.js";
import { type BlockRange, CutPlanner, validateChunkParams } from "./chunker.js";
import { combineSegments, DIGEST_SEGMENT_BYTES, segmentCount } from "./digest.js";
import { type PreviousVersion, planShifts, type RehashTasks, rehash, reusable } from "./rehash.js";
import { followDigest, type RunningDigest } from "./running-digest.js";
import type { BlockTask, CancelFlag, CopiedBlock, TaskResult, TaskValues } from "./tasks.js";
import type { ChunkParams, HashedFile } from "./types.js";

export interface BlockPoolOptions {
  threads?: number;
  /** Files up to this size are read whole by one task; also the byte limit of a coalesced small-file task. */
  wholeFileLimit?: number;
  /** Bytes per candidate-scanning task for bigger files. */
  segmentSize?: number;
  /** Bytes of blocks per xxh64 task. */
  blockBatchSize?: number;
}

/**
 * hashFile failed: `code` is "changed" (file modified while hashed), "aborted" (signal), "ENOTFILE", or
 * an fs code (ENOENT, EACCES…).
 */
export class HashError extends Error {
  override name = "HashError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MiB = 1 << 20;
/** Candidate-scanning tasks of one file queued at once, per pool thread. */
const SEGMENTS_PER_THREAD = 3;
/** Files per coalesced small-file task. */
const FILES_PER_TASK = 64;

interface SmallFile {
  path: string;
  size: number;
  resolve: (h: HashedFile) => void;
  reject: (e: Error) => void;
}

function sameParams(a: ChunkParams, b: ChunkParams): boolean {
  return a.min === b.min && a.avg === b.avg && a.max === b.max;
}

/** Attach a no-op handler so a rejection nobody awaits yet is not "unhandled"; awaiting still throws. */
function tracked<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function regularFileSize(absPath: string): Promise<number> {
  const st = await stat(absPath).catch((err: NodeJS.ErrnoException) => {
    throw new HashError(err.code ?? "EUNKNOWN", err.message);
  });
  if (!st.isFile()) throw new HashError("ENOTFILE", `${absPath} is not a regular file`);
  return st.size;
}

export class BlockPool {
  private readonly wholeFileLimit: number;
  private readonly segmentSize: number;
  private readonly blockBatchSize: number;
  private small: SmallFile[] = [];
  private smallBytes = 0;
  private smallParams: ChunkParams | undefined;
  private smallFlushScheduled = false;
  /** Per descriptor written by copy tasks (see BlockTask "copy"); descriptor numbers are few and reused. */
  private readonly writeLocks = new Map<number, Int32Array>();

  private constructor(
    private readonly piscina: Piscina<BlockTask, TaskResult<BlockTask["kind"]>>,
    opts: BlockPoolOptions,
  ) {
    this.wholeFileLimit = opts.wholeFileLimit ?? 16 * MiB;
    this.segmentSize = opts.segmentSize ?? 8 * MiB;
    this.blockBatchSize = opts.blockBatchSize ?? 16 * MiB;
  }

  static async open(opts: BlockPoolOptions = {}): Promise<BlockPool> {
    const threads = opts.threads ?? availableParallelism();
    const piscina = new Piscina<BlockTask, TaskResult<BlockTask["kind"]>>({
      filename: new URL("../../workers/block-worker.js", import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
    return new BlockPool(piscina, opts);
  }

  /** Threads in the pool. */
  get threads(): number {
    return this.piscina.maxThreads;
  }

  /**
   * Content-defined blocks with xxh64 each, plus the whole-file digest. Rejects with HashError.
   * Aborting `signal` stops the work on a big file within a few ms (code "aborted"); small files finish.
   * `previous` gives the indexed version of the same file (asked only for a big file), which lets it be
   * re-hashed around what changed (rehash.ts), with the same result.
   */
  async hashFile(
    absPath: string,
    params: ChunkParams,
    signal?: AbortSignal,
    previous?: () => PreviousVersion | undefined,
  ): Promise<HashedFile> {
    validateChunkParams(params);
    const size = await regularFileSize(absPath);
    if (size <= this.wholeFileLimit) return this.hashSmall(absPath, size, params);
    return this.hashLarge(absPath, size, params, signal, previous?.());
  }

  /**
   * The whole-file digest (hex), nothing else: what a receiver checks an assembled file against. Far
   * cheaper than hashFile's chunking and block hashes. Rejects with HashError.
   */
  async digestFile(absPath: string): Promise<string> {
    const size = await regularFileSize(absPath);
    const cancel: CancelFlag = new Int32Array(new SharedArrayBuffer(4));
    const tasks = this.digestParts(absPath, size, cancel);
    try {
      return combineSegments(size, await Promise.all(tasks));
    } catch (err) {
      Atomics.store(cancel, 0, 1);
      throw err;
    }
  }

  /**
   * Copies consecutive blocks from the open file `fromFd` into `toFd` (a file under assembly) on a pool
   * thread: read once, each block checked against its xxh64, the good ones written. Resolves to the
   * indices of the blocks that were not written (all of them if `fromFd` is shorter); rejects with
   * HashError when writing fails. Both descriptors must stay open until the promise settles.
   */
  copyBlocks(
    fromFd: number,
    fromOffset: number,
    toFd: number,
    toOffset: number,
    blocks: readonly CopiedBlock[],
  ): Promise<number[]> {
    const copied = blocks.map((b) => ({ size: b.size, hash: b.hash }));
    let writeLock = this.writeLocks.get(toFd);
    if (writeLock === undefined) {
      writeLock = new Int32Array(new SharedArrayBuffer(4));
      this.writeLocks.set(toFd, writeLock);
    }
    return this.run({ kind: "copy", fromFd, fromOffset, toFd, toOffset, blocks: copied, writeLock });
  }

  /** Follows a file being written from its start, hashing its digest segments as they are final. */
  follow(absPath: string): RunningDigest {
    return followDigest(absPath, (path, size, index, cancel) => this.segmentHash(path, size, index, cancel));
  }

  private segmentHash(path: string, size: number, index: number, cancel: CancelFlag): Promise<Uint8Array> {
    return this.run({ kind: "segment", path, size, index, cancel });
  }

  private hashSmall(path: string, size: number, params: ChunkParams): Promise<HashedFile> {
    return new Promise((resolve, reject) => {
      if (this.smallParams && !sameParams(this.smallParams, params)) this.flushSmall();
      this.smallParams = params;
      this.small.push({ path, size, resolve, reject });
      this.smallBytes += size;
      if (this.small.length >= FILES_PER_TASK || this.smallBytes >= this.wholeFileLimit) {
        this.flushSmall();
      } else if (!this.smallFlushScheduled) {
        this.smallFlushScheduled = true;
        setImmediate(() => {
          this.smallFlushScheduled = false;
          this.flushSmall();
        });
      }
    });
  }

  private flushSmall(): void {
    const items = this.small;
    const params = this.smallParams;
    this.small = [];
    this.smallBytes = 0;
    this.smallParams = undefined;
    if (items.length === 0 || params === undefined) return;
    const files = items.map((f) => ({ path: f.path, size: f.size }));
    this.run({ kind: "files", files, params }).then(
      (results) => {
        for (const [i, r] of results.entries()) {
          if (r.ok) items[i].resolve(r.value);
          else items[i].reject(new HashError(r.code, r.message));
        }
      },
      (err: Error) => {
        for (const f of items) f.reject(err);
      },
    );
  }

  async close(): Promise<void> {
    await this.piscina.close();
  }

  private async hashLarge(
    path: string,
    size: number,
    params: ChunkParams,
    signal: AbortSignal | undefined,
    previous: PreviousVersion | undefined,
  ): Promise<HashedFile> {
    const cancel: CancelFlag = new Int32Array(new SharedArrayBuffer(4));
    const stop = () => Atomics.store(cancel, 0, 1);
    if (signal?.aborted) throw new HashError("aborted", "hashing cancelled");
    signal?.addEventListener("abort", stop, { once: true });
    try {
      if (previous !== undefined && reusable(previous, params)) {
        const tasks = this.rehashTasks(path, params, cancel);
        const shifts = await planShifts(size, previous, params, tasks);
        if (shifts.length > 0) {
          const digest = this.digestParts(path, size, cancel);
          const blocks = await rehash(size, previous, params, shifts, tasks);
          return { size, blocks, digest: combineSegments(size, await Promise.all(digest)) };
        }
      }
      return await this.hashSegments(path, size, params, cancel);
    } catch (err) {
      stop();
      throw err;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  }

  private rehashTasks(path: string, params: ChunkParams, cancel: CancelFlag): RehashTasks {
    return {
      candidates: (start, end) => this.run({ kind: "candidates", path, start, end, params, cancel }),
      hashes: (ranges) =>
        this.run({
          kind: "blocks",
          path,
          offsets: ranges.map((r) => r.offset),
          sizes: ranges.map((r) => r.size),
          cancel,
        }),
      lookahead: SEGMENTS_PER_THREAD * this.threads,
      // An edit's region ends a block or two after it: scanning a whole segment for it would cost more
      // than the rest of the re-hash.
      scanBytes: Math.min(this.segmentSize, 4 * params.max),
      batchBytes: this.blockBatchSize,
    };
  }

  /** Hash tasks of every digest segment of the file, queued now. */
  private digestParts(path: string, size: number, cancel: CancelFlag): Promise<Uint8Array>[] {
    return Array.from({ length: segmentCount(size) }, (_, k) =>
      tracked(this.segmentHash(path, size, k, cancel)),
    );
  }

  private async hashSegments(
    path: string,
    size: number,
    params: ChunkParams,
    cancel: CancelFlag,
  ): Promise<HashedFile> {
    // A bounded window of segment tasks: block-hash tasks interleave with them, other files' tasks get
    // turns, and a cancellation has little queued work to drain.
    const window = SEGMENTS_PER_THREAD * this.threads;
    const segments: { end: number; candidates: Promise<TaskValues["candidates"]> }[] = [];
    const digestParts: Promise<Uint8Array>[] = [];
    let next = 0;
    const dispatch = () => {
      while (next < size && segments.length < window) {
        const start = next;
        const end = Math.min(size, start + this.segmentSize);
        const task = { kind: "candidates", path, start, end, params, cancel } as const;
        segments.push({ end, candidates: tracked(this.run(task)) });
        next = end;
        // The digest segments these bytes complete, queued right behind so they are read while cached.
        const complete = next === size ? segmentCount(size) : Math.floor(next / DIGEST_SEGMENT_BYTES);
        for (let k = digestParts.length; k < complete; k++) {
          digestParts.push(tracked(this.segmentHash(path, size, k, cancel)));
        }
      }
    };
    const planner = new CutPlanner(params, size);
    const ranges: BlockRange[] = [];
    const hashes: Promise<string[]>[] = [];
    let batchStart = 0;
    let batchBytes = 0;
    const flush = () => {
      const batch = ranges.slice(batchStart);
      const offsets = batch.map((b) => b.offset);
      const sizes = batch.map((b) => b.size);
      hashes.push(tracked(this.run({ kind: "blocks", path, offsets, sizes, cancel })));
      batchStart = ranges.length;
      batchBytes = 0;
    };
    dispatch();
    for (let segment = segments.shift(); segment !== undefined; segment = segments.shift()) {
      const candidates = await segment.candidates;
      dispatch();
      for (const block of planner.add(candidates, segment.end)) {
        ranges.push(block);
        batchBytes += block.size;
        if (batchBytes >= this.blockBatchSize) flush();
      }
    }
    if (batchBytes > 0) flush();
    const blockHashes = (await Promise.all(hashes)).flat();
    const blocks: BlockInfo[] = ranges.map((r, i) => ({
      offset: r.offset,
      size: r.size,
      hash: blockHashes[i],
    }));
    return { size, blocks, digest: combineSegments(size, await Promise.all(digestParts)) };
  }

  private async run<K extends BlockTask["kind"]>(task: BlockTask & { kind: K }): Promise<TaskValues[K]> {
    const result = (await this.piscina.run(task)) as TaskResult<K>;
    if (!result.ok) throw new HashError(result.code, result.message);
    return result.value;
  }
}
