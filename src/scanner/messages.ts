/** Messages between the Scanner controller (main thread) and the scanner worker thread. */
import type { StatRecord } from "../index/types.js";
import type { LogFields, LogLevel } from "../util/log.js";

export interface ScannerWorkerData {
  /** Absolute path of the share. */
  dir: string;
  rescanIntervalMs: number;
  /** Quiet time after the first watch event of a batch before it is reported. */
  debounceMs: number;
}

export type ToWorker =
  | { type: "start" }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "rescan" }
  | { type: "close" };

export type FromWorker =
  | { type: "scanStart" }
  | { type: "changes"; records: StatRecord[]; fullScan: true }
  | { type: "scanComplete" }
  /** A watch flush: existing entries (including whole subtrees of `walked` dirs) and vanished paths. */
  | { type: "touched"; records: StatRecord[]; walked: string[]; gone: string[] }
  | { type: "log"; level: LogLevel; event: string; message: string; fields?: LogFields }
  | { type: "error"; message: string }
  | { type: "closed" };
