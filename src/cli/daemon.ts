/**
 * `left --dir … --ip …`: opens the index, the hashing pool, the scanner-backed local folder, the UDP
 * endpoint and the sync engine, keeps status.json fresh, and shuts all of it down in order on SIGINT or
 * SIGTERM (current writes finish, the index is flushed and closed, exit 0).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { deriveMasterKey } from "../crypto/key.js";
import { pskSecurity } from "../crypto/psk.js";
import { IndexDb } from "../index/db.js";
import { BlockPool } from "../pipeline/pool.js";
import { chunkParams } from "../pipeline/types.js";
import { LocalFolder } from "../scanner/local-folder.js";
import { SyncEngine } from "../sync/engine.js";
import { STATE_DIR } from "../sync/paths.js";
import { STATUS_FILE, StatusWriter } from "../sync/status.js";
import { Endpoint } from "../transport/endpoint.js";
import { defaultPacketSize } from "../transport/packet-size.js";
import { plaintextSecurity } from "../transport/plaintext.js";
import { systemClock } from "../util/clock.js";
import { createLogger } from "../util/log.js";
import { ExitCode, type RunOptions } from "./args.js";
import { type Lock, lockShare } from "./lock.js";
import { DaemonMonitor } from "./monitor.js";
import { type ProblemLog, problemLog } from "./problems.js";
import { Progress } from "./progress.js";
import { bindProblem, shareProblem } from "./startup-errors.js";

const MiB = 1024 * 1024;
/** Default in-flight bytes per connection when --window is not given (≈ 262 loopback packets). */
const DEFAULT_WINDOW_BYTES = 8 * MiB;
/** A shutdown that takes longer than this is abandoned (the index is consistent at any point anyway). */
const SHUTDOWN_TIMEOUT_MS = 15_000;

/**
 * Block bytes the puller may have requested and not yet written: a few windows' worth, so every peer
 * can be kept busy, capped so that memory stays small whatever the file sizes.
 */
export function pullBudget(window: number, packetSize: number): number {
  return Math.min(64 * MiB, Math.max(16 * MiB, 4 * window * packetSize));
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

export async function runDaemon(o: RunOptions): Promise<number> {
  // On a terminal a progress line replaces the stream of status; logs are printed above it.
  const progress = process.stderr.isTTY && o.logFormat === "text" ? new Progress(process.stderr) : null;
  const log = problemLog(
    createLogger({
      format: o.logFormat,
      level: o.logLevel,
      ...(progress && { write: (line: string) => progress.log(line) }),
    }),
  );
  try {
    return await run(o, log, progress);
  } finally {
    progress?.stop();
  }
}

async function run(o: RunOptions, log: ProblemLog, progress: Progress | null): Promise<number> {
  let lock: Lock;
  try {
    await mkdir(join(o.dir, STATE_DIR), { recursive: true });
    lock = await lockShare(o.dir);
  } catch (err) {
    log.log("error", "share.unusable", shareProblem(o.dir, err));
    return ExitCode.Failure;
  }
  if ("heldBy" in lock) {
    log.log(
      "error",
      "left.already_running",
      `another left (pid ${lock.heldBy}) is already running on ${o.dir}: stop it first, or see \`left status --dir ${o.dir}\``,
    );
    return ExitCode.Failure;
  }
  try {
    return await serve(o, log, progress);
  } finally {
    await lock.release();
  }
}

async function serve(o: RunOptions, log: ProblemLog, progress: Progress | null): Promise<number> {
  let db: IndexDb;
  try {
    db = IndexDb.open(o.dir);
  } catch (err) {
    log.log(
      "error",
      "index.open_failed",
      `cannot open the index in ${join(o.dir, STATE_DIR)}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return ExitCode.Failure;
  }
  const security = o.key ? pskSecurity(await deriveMasterKey(o.key.passphrase), o.crypto) : plaintextSecurity;
  const packetSize = defaultPacketSize(o.peers[0]!.host, o.packetSize);
  const window = o.window ?? Math.ceil(DEFAULT_WINDOW_BYTES / packetSize);
  const chunk = chunkParams(o.blockSize);
  const pool = await BlockPool.open();
  const folder = LocalFolder.open({ dir: o.dir, db, pool, chunk, log });
  const engine = new SyncEngine({
    dir: o.dir,
    db,
    folder,
    digestOf: (abs) => pool.digestFile(abs),
    digester: pool,
    copier: pool,
    log,
    budgetBytes: pullBudget(window, packetSize),
    compress: o.compress,
  });
  await engine.start();

  let endpoint: Endpoint;
  try {
    endpoint = await Endpoint.open({
      bind: o.bind,
      port: o.port,
      peers: o.peers,
      deviceId: Buffer.from(db.deviceId, "hex"),
      packetSize,
      window,
      security,
      log,
    });
  } catch (err) {
    log.log("error", "endpoint.open_failed", bindProblem(o.bind, o.port, err));
    await engine.close();
    await folder.close();
    await pool.close();
    db.close();
    return ExitCode.Failure;
  }
  engine.attach(endpoint);
  folder.start();

  const monitor = new DaemonMonitor({
    peers: o.peers,
    engine,
    endpoint,
    db,
    problems: () => log.recent(),
    log,
  });
  const publish = () => {
    const s = monitor.snapshot();
    progress?.update(s);
    return s;
  };
  const status = new StatusWriter(join(o.dir, STATE_DIR, STATUS_FILE), publish, systemClock, log);
  await status.write();
  status.start();
  log.log("info", "left.started", "LEFT running", {
    dir: o.dir,
    listen: `${o.bind}:${o.port}`,
    device: db.deviceId,
    encrypted: security.encrypted,
  });

  const signal = await waitForSignal();
  log.log("info", "left.stopping", `${signal}: finishing current writes`);
  // A second signal, or a shutdown that hangs, ends the process at once: the index is always consistent.
  const force = () => process.exit(ExitCode.Failure);
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  setTimeout(force, SHUTDOWN_TIMEOUT_MS).unref();

  await engine.close();
  await status.stop();
  await endpoint.close();
  await folder.close();
  await pool.close();
  db.close();
  log.log("info", "left.stopped", "LEFT stopped");
  return ExitCode.Ok;
}
