/**
 * Whole-file SHA-256 of files being assembled, computed while they are written. The receiver reports how
 * much of a file is final from its start (the contiguous prefix of written blocks); a dedicated worker
 * thread reads that much from the page cache and feeds it to the hash. When the last block lands only
 * the tail is left, instead of the whole file after the transfer (0.6 s per GiB here, on the critical
 * path of every download).
 *
 * A dedicated thread rather than the piscina pool: a hash state lives across many updates, and a piscina
 * task may run on any thread. One thread for every file: SHA-256 is sequential per file anyway, and
 * this keeps the pool's cores for block work.
 */
import { Worker } from "node:worker_threads";
import type { DigestReply, DigestRequest } from "./prefix-digest-protocol.js";

/** One file's running digest. */
export interface PrefixDigest {
  /**
   * The first `bytes` bytes of the file are written and final. Passed on to the digest thread once they
   * are `advanceStep` beyond what it was last told; smaller values than before are ignored.
   */
  advance(bytes: number): void;
  /** SHA-256 (hex) of the first `size` bytes, or null if the file could not be read as promised. */
  finish(size: number): Promise<string | null>;
  /** Not needed any more (the download failed): frees the worker's state. */
  abort(): void;
}

/**
 * Progress is passed on in steps of at least this much by default: a message per written run (1 MiB)
 * cost the main thread more than the hashing it saves at the end, and finish() covers whatever is left.
 */
const DEFAULT_ADVANCE_STEP = 8 << 20;

export class PrefixDigests {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, (digest: string | null) => void>();
  private closed = false;
  private readonly advanceStep: number;

  constructor(opts: { advanceStep?: number } = {}) {
    this.advanceStep = opts.advanceStep ?? DEFAULT_ADVANCE_STEP;
    this.worker = new Worker(new URL("../../workers/digest-worker.js", import.meta.url));
    this.worker.on("message", (reply: DigestReply) => {
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) this.worker.unref();
      resolve?.(reply.digest);
    });
    // A dead worker answers nothing: callers fall back to hashing the file afresh.
    this.worker.on("error", () => this.failAll());
    this.worker.on("exit", () => this.failAll());
    // The worker keeps the process alive only while someone awaits a digest.
    this.worker.unref();
  }

  /** Starts following `absPath` (a file that will be written from its start, block by block). */
  follow(absPath: string): PrefixDigest {
    const id = this.nextId++;
    let sent = 0;
    let ended = false;
    this.post({ op: "open", id, path: absPath });
    return {
      advance: (bytes) => {
        if (ended || bytes < sent + this.advanceStep) return;
        sent = bytes;
        this.post({ op: "advance", id, upTo: bytes });
      },
      finish: (size) => {
        if (ended) return Promise.resolve(null);
        ended = true;
        if (this.closed) return Promise.resolve(null);
        return new Promise((resolve) => {
          this.waiting.set(id, resolve);
          this.worker.ref();
          this.post({ op: "finish", id, upTo: size });
        });
      },
      abort: () => {
        if (ended) return;
        ended = true;
        this.post({ op: "abort", id });
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll();
    await this.worker.terminate();
  }

  private post(msg: DigestRequest): void {
    if (!this.closed) this.worker.postMessage(msg);
  }

  private failAll(): void {
    this.closed = true;
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
  }
}
