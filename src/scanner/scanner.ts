/**
 * Main-thread controller of the scanner worker thread (workers/scanner-worker.ts).
 *
 * Events:
 * - scanStart, then changes(records, true, []) batches, then scanComplete: one full scan. Every entry of
 *   the share is in those batches; anything indexed but absent was deleted (verify before acting: a
 *   path can be created after the walk passed its directory, and is then reported by a watch batch).
 * - changes(records, false, walked): a watch batch (~debounceMs after the first event). Directories in
 *   `walked` were new and are listed completely, so indexed paths below them and absent are gone.
 * - gone(paths): watched paths that no longer exist; everything below them is gone too.
 * - error(err): a scan failed or the worker died (it is restarted after a second). Listen to it: an
 *   EventEmitter without 'error' listeners throws.
 * Paths are relative POSIX; `.left/` is never reported; symlinks are reported, never followed.
 */
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import type { StatRecord } from "../index/types.js";
import type { Logger } from "../util/log.js";
import type { FromWorker, ScannerWorkerData, ToWorker } from "./messages.js";

/** Delay before replacing a scanner worker that died (so a persistent failure does not spin). */
const RESTART_DELAY_MS = 1000;

export interface ScannerEvents {
  changes: [records: StatRecord[], fullScan: boolean, walked: string[]];
  gone: [paths: string[]];
  scanStart: [];
  scanComplete: [];
  error: [err: Error];
}

export interface ScannerOptions {
  dir: string;
  rescanIntervalMs: number;
  log: Logger;
  /**
   * Delay between the first watch event of a batch and its report (default 25 ms): long enough to
   * gather a burst (a checkout, an unpacked archive) into one batch, short enough not to show in the
   * time from a save to the peer having it. A file still being written is caught by the hash (it
   * settles and is looked at again), not by a longer debounce.
   */
  debounceMs?: number;
}

export class Scanner extends EventEmitter<ScannerEvents> {
  private readonly opts: ScannerOptions;
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private closed = false;

  constructor(opts: ScannerOptions) {
    super();
    this.opts = opts;
  }

  /** Starts the worker: an immediate full scan, then watching and periodic rescans. */
  start(): void {
    if (this.worker || this.closed) return;
    const workerData: ScannerWorkerData = {
      dir: this.opts.dir,
      rescanIntervalMs: this.opts.rescanIntervalMs,
      debounceMs: this.opts.debounceMs ?? 25,
    };
    const worker = new Worker(new URL("../../workers/scanner-worker.js", import.meta.url), { workerData });
    this.worker = worker;
    worker.on("message", (msg: FromWorker) => this.onMessage(msg));
    worker.on("error", (err) => this.emit("error", err));
    this.exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        if (this.worker === worker) {
          // Without a scanner local changes would go unnoticed: start a new one (a full scan catches up).
          this.worker = undefined;
          this.emit("error", new Error(`scanner worker exited unexpectedly (code ${code}); restarting`));
          this.restartTimer = setTimeout(() => this.start(), RESTART_DELAY_MS);
        }
        resolve();
      });
    });
    if (this.paused) this.send({ type: "pause" });
    this.send({ type: "start" });
  }

  /** The worker stops reporting but keeps collecting watch events. */
  pause(): void {
    this.paused = true;
    this.send({ type: "pause" });
  }

  /** Reports what was collected while paused (the touched paths, stat'ed afresh). */
  resume(): void {
    this.paused = false;
    this.send({ type: "resume" });
  }

  rescan(): void {
    this.send({ type: "rescan" });
  }

  /** Asks the worker to stop at the next batch boundary and waits until its thread has exited. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    worker.postMessage({ type: "close" } satisfies ToWorker);
    await this.exited;
  }

  private send(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case "scanStart":
        this.emit("scanStart");
        return;
      case "changes":
        this.emit("changes", msg.records, true, []);
        return;
      case "scanComplete":
        this.emit("scanComplete");
        return;
      case "touched":
        if (msg.gone.length > 0) this.emit("gone", msg.gone);
        if (msg.records.length > 0) this.emit("changes", msg.records, false, msg.walked);
        return;
      case "log":
        this.opts.log.log(msg.level, msg.event, msg.message, msg.fields);
        return;
      case "error":
        this.emit("error", new Error(msg.message));
        return;
      case "closed":
        return;
    }
  }
}
