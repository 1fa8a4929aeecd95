/**
 * Entry point of the scanner worker thread (see src/scanner/scan-worker.ts). It exits by itself once
 * closed: the port is closed and no watcher or timer is left.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { FromWorker, ScannerWorkerData, ToWorker } from "../src/scanner/messages.js";
import { ScanWorker } from "../src/scanner/scan-worker.js";

const port = parentPort;
if (port === null) throw new Error("scanner-worker must run as a worker thread");

const worker = new ScanWorker(
  workerData as ScannerWorkerData,
  (msg: FromWorker) => port.postMessage(msg),
  () => port.close(),
);
port.on("message", (msg: ToWorker) => worker.handle(msg));
