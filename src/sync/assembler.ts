/**
 * Builds one file version in `<share>/.left/tmp/` from its block list: blocks already on this host are
 * copied from whichever local file has them, the rest are requested from peers that have the version.
 * Every block is checked against its xxh64 before it is written at its offset, and recorded as done in
 * the index (in batches), which is what a restart after SIGKILL resumes from. The finished file must
 * match the whole-file digest before it is handed back; it is never visible in the share from here.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BlockInfo, FileInfo } from "../index/types.js";
import { contentDigest } from "../pipeline/digest.js";
import type { RunningDigest } from "../pipeline/running-digest.js";
import { type Connection, releaseBulk } from "../transport/types.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import type { ByteBudget } from "./budget.js";
import { decompressBlock } from "./compress.js";
import { DiskSpace, type Reservation } from "./disk-space.js";
import type { BlockFetcher, FetchResult } from "./fetcher.js";
import { ioProblem } from "./io-errors.js";
import { LocalBlocks } from "./local-blocks.js";
import type { SyncIndex } from "./ports.js";
import { DoneMarks, WrittenPrefix } from "./progress.js";
import type { RecycleBin } from "./recycle.js";
import { badBlocks, type LocalSource, type PlannedRun, planRuns, runBytes } from "./run.js";

/** Why assembly stopped; "no-source" waits for a peer, the others are retried after a delay. */
export type AssemblyFailure = "no-source" | "closed" | "io" | "digest" | "no-space";

export type AssemblyResult = { ok: true; tmpPath: string } | { ok: false; reason: AssemblyFailure };

export interface AssemblerOptions {
  /** Absolute path of the share. */
  dir: string;
  db: SyncIndex;
  recycle: RecycleBin;
  fetcher: BlockFetcher;
  budget: ByteBudget;
  /** The whole-file digest (pipeline/digest.ts, hex) of a file, computed off the main thread. */
  digestOf: (absPath: string) => Promise<string>;
  /**
   * Hashes a file while it is assembled (see running-digest.ts), so that the check at the end costs only
   * the tail; digestOf is the fallback when it cannot answer. Absent: digestOf after the fact.
   */
  digester?: { follow(absPath: string): RunningDigest };
  /**
   * Copies runs of blocks out of local files on another thread (BlockPool.copyBlocks): read, verified
   * and written there, so that a file rebuilt mostly from its old version costs this thread nothing
   * per byte. Absent: read, verified and written from here.
   */
  copier?: LocalCopier;
  clock: Clock;
  log: Logger;
  /** Done-block marks are written to the index at least this often (the resume granularity). */
  markIntervalMs?: number;
  /** Free space of the share's file system (default: statfs of .left/tmp). */
  space?: DiskSpace;
}

/**
 * Copies consecutive blocks from the open file `fromFd` at `fromOffset` into `toFd` at `toOffset`, each
 * verified against its hash first; resolves to the indices of the blocks it did not write. The caller
 * keeps both descriptors open until it settles.
 */
export interface LocalCopier {
  copyBlocks(
    fromFd: number,
    fromOffset: number,
    toFd: number,
    toOffset: number,
    blocks: readonly BlockInfo[],
  ): Promise<number[]>;
}

/** Where fillRun puts what it obtained (see fillBlocks). */
interface RunSink {
  /** Writes (and releases) verified bytes at the offset of block `first`. */
  write(first: number, data: Uint8Array): Promise<void>;
  /** Blocks first..first+count-1 are on disk. */
  written(first: number, count: number): void;
  /** Copies a local run straight into the file (LocalCopier); the blocks it could not, or null: none. */
  copy(first: number, source: LocalSource, blocks: readonly BlockInfo[]): Promise<number[]> | null;
}

export const TMP_DIR = ".left/tmp";
/** Refused versions remembered so that each is logged once (a bound, not a tuning knob). */
const MAX_REMEMBERED_REFUSALS = 4096;

/**
 * Writes all of `data` at `position`. A write that fills the disk can be short rather than fail; the
 * next one then fails with ENOSPC. A block is only recorded as done once all of it is written.
 */
async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.byteLength; ) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

export class Assembler {
  private readonly markIntervalMs: number;
  private readonly space: DiskSpace;
  /** Versions refused for lack of space, logged once until they fit (`path digest`). */
  private readonly shortOfSpace = new Set<string>();
  private stopped = false;

  constructor(private readonly opts: AssemblerOptions) {
    this.markIntervalMs = opts.markIntervalMs ?? 250;
    this.space = opts.space ?? new DiskSpace(join(opts.dir, TMP_DIR));
  }

  /** Assemblies under way end at the next block ("closed"); blocks already written stay recorded. */
  stop(): void {
    this.stopped = true;
  }

  tmpPath(tmpName: string): string {
    return join(this.opts.dir, TMP_DIR, tmpName);
  }

  /**
   * Assembles `target` (a live file) in a tmp file. `sources` is asked afresh for every block, so peers
   * that connect or disconnect meanwhile are used or avoided.
   */
  assemble(target: FileInfo, sources: () => Connection[]): Promise<AssemblyResult> {
    return target.blocks.length <= 1
      ? this.assembleSmall(target, sources)
      : this.assembleLarge(target, sources);
  }

  /**
   * A file of at most one block is fetched into memory, checked against its digest there and written in
   * one go: no resume state is worth the index writes it would cost.
   */
  private async assembleSmall(target: FileInfo, sources: () => Connection[]): Promise<AssemblyResult> {
    const space = await this.reserve(target, target.size);
    if (space === null) return { ok: false, reason: "no-space" };
    try {
      return await this.fillSmall(target, sources);
    } finally {
      space.release();
    }
  }

  private async fillSmall(target: FileInfo, sources: () => Connection[]): Promise<AssemblyResult> {
    const block = target.blocks[0];
    let data: Uint8Array = new Uint8Array(0);
    if (block !== undefined) {
      const local = new LocalBlocks(this.opts.dir, this.opts.db, this.opts.recycle);
      await this.opts.budget.acquire(block.size);
      try {
        const got = await this.fetchBlock(target, block, local, sources);
        if (!(got instanceof Uint8Array)) return { ok: false, reason: got };
        data = got;
      } finally {
        this.opts.budget.release(block.size);
        await local.close();
      }
    }
    try {
      if (contentDigest(data) !== target.digest) return this.mismatch(target, null);
      const tmpPath = this.tmpPath(`${randomBytes(8).toString("hex")}.part`);
      try {
        await writeFile(tmpPath, data, { flag: "wx", mode: 0o600 });
      } catch (err) {
        // A partly written file would only take space: the next attempt fetches the block again.
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") await unlink(tmpPath).catch(() => undefined);
        return this.ioFailure(target, err);
      }
      return { ok: true, tmpPath };
    } finally {
      releaseBulk(data);
    }
  }

  private ioFailure(target: FileInfo, err: unknown): AssemblyResult & { ok: false } {
    this.opts.log.log("warn", "pull.io_error", `cannot write the download: ${ioProblem(err)}; will retry`, {
      path: target.path,
    });
    return { ok: false, reason: "io" };
  }

  /**
   * Claims disk space for the `bytes` of `target` still to be written, or logs (once per version) that
   * they do not fit and returns null: the pull is retried later, when space may have been freed.
   */
  private async reserve(target: FileInfo, bytes: number): Promise<Reservation | null> {
    const key = `${target.path} ${target.digest}`;
    const got = await this.space.reserve(bytes);
    if (!("free" in got)) {
      this.shortOfSpace.delete(key);
      return got;
    }
    if (!this.shortOfSpace.has(key)) {
      // Versions that were superseded while refused stay in the set: forget them all now and then.
      if (this.shortOfSpace.size >= MAX_REMEMBERED_REFUSALS) this.shortOfSpace.clear();
      this.shortOfSpace.add(key);
      this.opts.log.log(
        "warn",
        "pull.no_space",
        `not enough free disk space: ${bytes} bytes to write, ${got.free} available; will retry`,
        { path: target.path },
      );
    }
    return null;
  }

  private async assembleLarge(target: FileInfo, sources: () => Connection[]): Promise<AssemblyResult> {
    const partial = this.opts.db.getPartial(target.path, target.digest);
    let toWrite = target.size;
    if (partial !== undefined) for (const i of partial.done) toWrite -= target.blocks[i]?.size ?? 0;
    const space = await this.reserve(target, toWrite);
    if (space === null) return { ok: false, reason: "no-space" };
    try {
      return await this.fillLarge(target, partial, space, sources);
    } finally {
      space.release();
    }
  }

  private async fillLarge(
    target: FileInfo,
    partial: { tmpName: string; done: Set<number> } | undefined,
    space: Reservation,
    sources: () => Connection[],
  ): Promise<AssemblyResult> {
    const { db, log } = this.opts;
    const opened = await this.openTmp(target, partial);
    if (opened === null) return { ok: false, reason: "io" };
    const { fh, tmpPath, done } = opened;
    const marks = new DoneMarks(db, target.path, target.digest, this.opts.clock, this.markIntervalMs, log);
    const digest = this.opts.digester?.follow(tmpPath);
    const prefix = new WrittenPrefix(target, done);
    /** Blocks first..first+count-1 are on disk: one digest update per run, not per block. */
    const written = (first: number, count: number) => {
      for (let i = first; i < first + count; i++) {
        marks.add(i);
        prefix.add(i);
      }
      digest?.advance(prefix.bytes);
    };
    const local = new LocalBlocks(this.opts.dir, db, this.opts.recycle);
    let failure: AssemblyFailure | null = null;
    try {
      // Sparse: blocks take disk space as they are written (and were reserved above).
      await fh.truncate(target.size);
      digest?.advance(prefix.bytes);
      failure = await this.fillBlocks(target, done, { fh, space }, written, local, sources);
    } catch (err) {
      failure = this.ioFailure(target, err).reason;
    } finally {
      marks.flush();
      await local.close();
      await fh.close().catch(() => undefined);
    }
    if (failure !== null) {
      digest?.abort();
      return { ok: false, reason: failure };
    }
    const actual = (await digest?.finish(target.size)) ?? (await this.opts.digestOf(tmpPath).catch(() => ""));
    if (actual !== target.digest) return this.mismatch(target, tmpPath);
    return { ok: true, tmpPath };
  }

  private mismatch(target: FileInfo, tmpPath: string | null): AssemblyResult {
    this.opts.log.log("warn", "pull.digest_mismatch", "assembled file does not match its digest; discarded", {
      path: target.path,
    });
    if (tmpPath !== null) {
      this.opts.db.dropPartial(target.path, target.digest);
      unlink(tmpPath).catch(() => undefined);
    }
    return { ok: false, reason: "digest" };
  }

  /** The assembled file was renamed into place: its download record is no longer needed. */
  placed(target: FileInfo): void {
    if (target.blocks.length > 1) this.opts.db.dropPartial(target.path, target.digest);
  }

  /**
   * The assembled file could not be placed yet. A large one stays (with its record) to be placed by the
   * next attempt without fetching anything; a small one has no record and is simply fetched again.
   */
  unplaced(target: FileInfo, tmpPath: string): void {
    if (target.blocks.length <= 1) unlink(tmpPath).catch(() => undefined);
  }

  /** Resumes the recorded download of this version if its tmp file survived, else starts one. */
  private async openTmp(
    target: FileInfo,
    partial: { tmpName: string; done: Set<number> } | undefined,
  ): Promise<{ fh: FileHandle; tmpPath: string; done: Set<number> } | null> {
    const { db } = this.opts;
    if (partial !== undefined) {
      const tmpPath = this.tmpPath(partial.tmpName);
      const fh = await open(tmpPath, "r+").catch(() => null);
      if (fh !== null) return { fh, tmpPath, done: partial.done };
      db.dropPartial(target.path, target.digest);
    }
    const tmpName = `${randomBytes(8).toString("hex")}.part`;
    const tmpPath = this.tmpPath(tmpName);
    try {
      const fh = await open(tmpPath, "wx", 0o600);
      db.startPartial(target.path, target.digest, tmpName);
      return { fh, tmpPath, done: new Set() };
    } catch (err) {
      this.ioFailure(target, err);
      return null;
    }
  }

  /**
   * Fetches every block not yet done, in runs (see run.ts), with at most the budget's bytes in flight.
   */
  private async fillBlocks(
    target: FileInfo,
    done: ReadonlySet<number>,
    file: { fh: FileHandle; space: Reservation },
    written: (first: number, count: number) => void,
    local: LocalBlocks,
    sources: () => Connection[],
  ): Promise<AssemblyFailure | null> {
    const { budget, copier } = this.opts;
    const { fh, space } = file;
    const inFlight = new Set<Promise<void>>();
    let failure: AssemblyFailure | null = null;
    const sink: RunSink = {
      write: async (first, data) => {
        try {
          await writeAll(fh, data, target.blocks[first]!.offset);
        } finally {
          releaseBulk(data);
        }
        space.written(data.byteLength);
      },
      written,
      copy: (first, source, blocks) => {
        if (copier === undefined) return null;
        return local.handle(source.abs).then(async (from) => {
          if (from === null) return blocks.map((_, i) => i);
          const bad = await copier.copyBlocks(from.fd, source.offset, fh.fd, blocks[0]!.offset, blocks);
          const skipped = new Set(bad);
          for (const [i, b] of blocks.entries()) {
            if (skipped.has(i)) continue;
            space.written(b.size);
            written(first + i, 1);
          }
          return bad;
        });
      },
    };
    for (const run of planRuns(target.blocks, done, local.locator(target.blocks))) {
      if (this.stopped) failure ??= "closed";
      if (failure !== null) break;
      await budget.acquire(run.bytes);
      if (failure !== null) {
        budget.release(run.bytes);
        break;
      }
      const task = this.fillRun(target, run, local, sources, sink)
        .then((result) => {
          failure ??= result;
        })
        .catch((err: unknown) => {
          if (failure === null) this.ioFailure(target, err);
          failure ??= "io";
        })
        .finally(() => {
          budget.release(run.bytes);
          inFlight.delete(task);
        });
      inFlight.add(task);
    }
    await Promise.all(inFlight);
    return failure;
  }

  /**
   * Fills one run: copied, read or fetched whole, else (for a single block, or the blocks of the run
   * whose bytes were wrong or missing) block by block, each from a local copy if possible and from the
   * peers otherwise.
   */
  private async fillRun(
    target: FileInfo,
    run: PlannedRun,
    local: LocalBlocks,
    sources: () => Connection[],
    sink: RunSink,
  ): Promise<AssemblyFailure | null> {
    const blocks = target.blocks.slice(run.first, run.first + run.count);
    let redo = blocks.map((_, i) => i);
    const copied = blocks.length > 1 && run.source !== null ? sink.copy(run.first, run.source, blocks) : null;
    if (copied !== null) {
      redo = await copied;
    } else if (blocks.length > 1) {
      const got =
        run.source === null
          ? await this.fetchRun(target, blocks, sources)
          : { data: await local.readAt(run.source, run.bytes), device: null };
      if (got === "closed" || got === "no-source") return got;
      if (got !== null && got.data !== null) {
        const bad = badBlocks(got.data, blocks);
        if (bad.length === 0) {
          await sink.write(run.first, got.data);
          sink.written(run.first, blocks.length);
          return null;
        }
        if (got.device !== null) this.badBlockWarning(target, blocks[bad[0]!]!, got.device);
        releaseBulk(got.data);
      }
    }
    for (const i of redo) {
      const got = await this.fetchBlock(target, blocks[i]!, local, sources);
      if (!(got instanceof Uint8Array)) return got;
      await sink.write(run.first + i, got);
      sink.written(run.first + i, 1);
    }
    return null;
  }

  /**
   * A remote run's bytes as one peer sent them (decompressed, not yet verified), null when that peer
   * could not answer, or why no peer can be asked.
   */
  private async fetchRun(
    target: FileInfo,
    blocks: BlockInfo[],
    sources: () => Connection[],
  ): Promise<{ data: Uint8Array; device: string } | null | "closed" | "no-source"> {
    const result = await this.opts.fetcher.fetch(sources(), {
      path: target.path,
      digest: target.digest,
      offset: blocks[0]!.offset,
      blocks,
    });
    if (!result.ok) return result.reason === "closed" || result.reason === "no-source" ? result.reason : null;
    return { data: await received(result.data, result.compressed, runBytes(blocks)), device: result.device };
  }

  /** One block's verified bytes: a local copy if possible, else from the peers in turn. */
  private async fetchBlock(
    target: FileInfo,
    block: BlockInfo,
    local: LocalBlocks,
    sources: () => Connection[],
  ): Promise<Uint8Array | AssemblyFailure> {
    const copy = await local.read(block);
    if (copy !== null) return copy;
    const tried = new Set<string>();
    for (;;) {
      const candidates = sources().filter((c) => !tried.has(c.deviceId));
      const result: FetchResult = await this.opts.fetcher.fetch(candidates, {
        path: target.path,
        digest: target.digest,
        offset: block.offset,
        blocks: [block],
      });
      if (!result.ok) {
        if (result.reason === "closed") return "closed";
        if (result.reason === "no-source") return "no-source";
        tried.add(result.device);
        continue;
      }
      const data = await received(result.data, result.compressed, block.size);
      if (badBlocks(data, [block]).length === 0) return data;
      releaseBulk(data);
      this.badBlockWarning(target, block, result.device);
      tried.add(result.device);
    }
  }

  private badBlockWarning(target: FileInfo, block: BlockInfo, device: string): void {
    this.opts.log.log("warn", "pull.bad_block", "peer sent a block that does not match its hash", {
      path: target.path,
      offset: block.offset,
      device,
    });
  }
}

/**
 * A response's payload as plain bytes: decompressed (and the received buffer given back) when it came
 * compressed; an empty array, which matches no block, when it does not decompress to `size` bytes.
 */
async function received(data: Uint8Array, compressed: boolean, size: number): Promise<Uint8Array> {
  if (!compressed) return data;
  const plain = await decompressBlock(data, size);
  releaseBulk(data);
  return plain ?? new Uint8Array(0);
}
