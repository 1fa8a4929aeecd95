/**
 * The sync engine: connects the transport's events to the index exchange (Announcer, incoming INDEX),
 * the decisions (NeedTracker), the work (Assembler + Applier) and the block server. It owns no format and
 * no policy of its own; those live in the modules it wires together.
 */
import type { EventEmitter } from "node:events";
import { mkdir, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { FileInfo } from "../index/types.js";
import { initHasher } from "../pipeline/hash.js";
import type { Connection, EndpointEvents } from "../transport/types.js";
import { type Clock, systemClock, type TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { DecodeError } from "../wire/errors.js";
import { Announcer } from "./announcer.js";
import { Applier, type ApplyOutcome } from "./applier.js";
import { Assembler, type AssemblerOptions, TMP_DIR } from "./assembler.js";
import { resolveEntry } from "./block-delta.js";
import { ByteBudget } from "./budget.js";
import type { CompressMode } from "./compress.js";
import { BlockFetcher } from "./fetcher.js";
import { ioProblem } from "./io-errors.js";
import type { SyncFolder, SyncIndex } from "./ports.js";
import { decodeMessage, encodeHello, type Index, MessageType } from "./protocol.js";
import { RecycleBin } from "./recycle.js";
import { BlockServer } from "./server.js";
import { NeedTracker, type TrackedNeed } from "./tracker.js";
import { entryProblem } from "./validate.js";

export interface SyncEngineOptions {
  /** Absolute path of the share. */
  dir: string;
  db: SyncIndex;
  folder: SyncFolder;
  /** The whole-file digest (pipeline/digest.ts, hex), computed off the main thread. */
  digestOf: (absPath: string) => Promise<string>;
  /** Hashes downloads while they are written (AssemblerOptions.digester). */
  digester?: AssemblerOptions["digester"];
  /** Copies blocks of local files into downloads off the main thread (AssemblerOptions.copier). */
  copier?: AssemblerOptions["copier"];
  log: Logger;
  /** Block bytes requested but not yet written, across all files and peers. */
  budgetBytes: number;
  /** Whether served blocks are compressed (see compress.ts). */
  compress: CompressMode;
  clock?: Clock;
  /** A block request unanswered this long is asked elsewhere. */
  requestTimeoutMs?: number;
  /** Paths being worked on at once. */
  maxActive?: number;
  /** After the index failed to store a peer's entries (disk full), ask for them again this much later. */
  indexResyncMs?: number;
}

interface PeerState {
  conn: Connection;
  /** The peer has sent its whole index (an INDEX marked complete after our HELLO). */
  indexComplete: boolean;
  /**
   * An entry of the peer's could not be stored or resolved: its INDEX messages are dropped until the
   * reply to a new HELLO begins, so that nothing is stored past the lost entry (remoteSequence() is the
   * highest stored sequence, and the next HELLO starts there).
   */
  resync: { hello: TimerHandle | null } | null;
}

export interface EngineStatus {
  needed: number;
  inSync: boolean;
  /** Connected peers by configured address → device id. */
  connected: Map<string, string>;
}

/** A local edit not yet indexed blocks a change; the scanner's debounce plus hashing take about this long. */
const LOCAL_CHANGE_RETRY_MS = 1000;
const INDEX_RESYNC_MS = 5000;

export class SyncEngine {
  private readonly db: SyncIndex;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly peers = new Map<string, PeerState>();
  private readonly fetcher: BlockFetcher;
  private readonly server: BlockServer;
  private readonly announcer: Announcer;
  private readonly tracker: NeedTracker;
  private readonly assembler: Assembler;
  private readonly applier: Applier;
  private readonly recycle: RecycleBin;
  private readonly maxActive: number;
  private readonly running = new Set<Promise<void>>();
  private closing = false;
  private pumpScheduled = false;

  constructor(private readonly opts: SyncEngineOptions) {
    this.db = opts.db;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.maxActive = opts.maxActive ?? 16;
    this.fetcher = new BlockFetcher(this.clock, opts.requestTimeoutMs ?? 60_000);
    this.server = new BlockServer({
      dir: opts.dir,
      db: opts.db,
      log: opts.log,
      clock: this.clock,
      compress: opts.compress,
    });
    this.announcer = new Announcer(opts.db, this.clock, opts.log);
    this.tracker = new NeedTracker(
      opts.db,
      this.clock,
      (target) => this.connected(this.db.devicesHaving(target.path, target.digest)).length > 0,
      () => this.schedulePump(),
    );
    this.recycle = new RecycleBin(opts.dir, this.clock);
    this.assembler = new Assembler({
      dir: opts.dir,
      db: opts.db,
      recycle: this.recycle,
      fetcher: this.fetcher,
      budget: new ByteBudget(opts.budgetBytes),
      digestOf: opts.digestOf,
      digester: opts.digester,
      copier: opts.copier,
      clock: this.clock,
      log: opts.log,
    });
    this.applier = new Applier({
      dir: opts.dir,
      db: opts.db,
      recycle: this.recycle,
      folder: opts.folder,
      log: opts.log,
    });
  }

  /**
   * Decides what is needed from what peers announced in earlier runs, and clears the tmp folder of
   * everything but the downloads that are still needed (those resume).
   */
  async start(): Promise<void> {
    await initHasher();
    await this.recycle.open();
    this.opts.folder.on("changed", (files) => this.onLocalChanges(files));
    const paths = new Set<string>();
    for (const device of this.db.remoteDevices()) {
      for (const f of this.db.remoteFiles(device)) paths.add(f.path);
    }
    for (const path of paths) this.tracker.evaluate(path);
    await this.cleanTmp();
  }

  attach(endpoint: EventEmitter<EndpointEvents>): void {
    endpoint.on("peerUp", (conn) => this.onPeerUp(conn));
    endpoint.on("peerDown", (conn, reason) => this.onPeerDown(conn, reason));
    endpoint.on("message", (conn, msg) => this.onMessage(conn, msg, false));
    endpoint.on("bulk", (conn, msg) => this.onMessage(conn, msg, true));
    endpoint.on("drain", (conn) => this.server.drain(conn));
  }

  status(): EngineStatus {
    const connected = new Map<string, string>();
    let complete = true;
    for (const p of this.peers.values()) {
      connected.set(p.conn.peer, p.conn.deviceId);
      complete &&= p.indexComplete;
    }
    const inSync =
      connected.size > 0 &&
      complete &&
      !this.opts.folder.busy() &&
      this.announcer.caughtUp &&
      this.tracker.actionable === 0;
    return { needed: this.tracker.size, inSync, connected };
  }

  /** Stops starting work, fails outstanding block requests, and waits for changes under way to finish. */
  async close(): Promise<void> {
    this.closing = true;
    for (const peer of this.peers.values()) peer.resync?.hello?.cancel();
    this.assembler.stop();
    this.fetcher.close();
    this.announcer.close();
    while (this.running.size > 0) await Promise.all(this.running);
    this.recycle.close();
    this.server.close();
  }

  private onPeerUp(conn: Connection): void {
    this.peers.set(conn.deviceId, { conn, indexComplete: false, resync: null });
    this.log.log("info", "peer.up", "peer connected", { peer: conn.peer, device: conn.deviceId });
    conn.sendMessage(encodeHello(this.db.deviceId, this.db.remoteSequence(conn.deviceId)));
    // Announcements stored in an earlier run may still be unapplied: decide them again.
    for (const f of this.db.remoteFiles(conn.deviceId)) this.tracker.evaluate(f.path);
    this.tracker.sourcesChanged();
  }

  private onPeerDown(conn: Connection, reason: string): void {
    const peer = this.peers.get(conn.deviceId);
    if (peer?.conn === conn) {
      peer.resync?.hello?.cancel();
      this.peers.delete(conn.deviceId);
    }
    this.log.log("info", "peer.down", "peer disconnected", { peer: conn.peer, reason });
    this.fetcher.peerDown(conn.deviceId);
    this.server.peerDown(conn);
    this.announcer.peerDown(conn);
  }

  /** Never throws: this runs inside the transport's receive path. */
  private onMessage(conn: Connection, bytes: Uint8Array, bulk: boolean): void {
    try {
      this.handleMessage(conn, bytes, bulk);
    } catch (err) {
      this.log.log("error", "sync.message_failed", `cannot handle a sync message: ${ioProblem(err)}`, {
        peer: conn.peer,
      });
    }
  }

  private handleMessage(conn: Connection, bytes: Uint8Array, bulk: boolean): void {
    const msg = decodeMessage(bytes);
    if (msg instanceof DecodeError) {
      this.log.log("warn", "sync.bad_message", "malformed sync message dropped", {
        peer: conn.peer,
        kind: msg.kind,
        error: msg.message,
      });
      return;
    }
    // Block data is the only thing on the bulk channel, and never on the ordered one.
    if (bulk !== (msg.type === MessageType.Response)) {
      this.log.log("warn", "sync.bad_message", "sync message on the wrong channel dropped", {
        peer: conn.peer,
      });
      return;
    }
    switch (msg.type) {
      case MessageType.Hello:
        if (msg.deviceId !== conn.deviceId) {
          this.log.log("warn", "sync.bad_hello", "HELLO device id differs from the handshake's", {
            peer: conn.peer,
          });
          return;
        }
        this.announcer.hello(conn, msg.since, msg.full);
        return;
      case MessageType.Index:
        this.onIndex(conn, msg);
        return;
      case MessageType.Request:
        this.server.handle(conn, msg);
        return;
      case MessageType.Response:
        this.fetcher.onResponse(conn, msg);
        return;
    }
  }

  private onIndex(conn: Connection, msg: Index): void {
    const peer = this.peers.get(conn.deviceId);
    if (peer?.resync) {
      // Only the reply to the HELLO already sent ends the gap; what precedes it was sent before.
      if (peer.conn !== conn || peer.resync.hello !== null || !msg.reply) return;
      peer.resync = null;
    }
    const valid: FileInfo[] = [];
    let unresolved: string | null = null;
    for (const e of msg.files) {
      // Entries come in sequence order: none after an unresolved one may be stored before it is.
      const f = e.blocks === null ? resolveEntry(e, this.db.getLocal(e.path)) : e;
      if (f === null) {
        unresolved = e.path;
        break;
      }
      const problem = entryProblem(f);
      if (problem === null) valid.push(f);
      else
        this.log.log("warn", "sync.bad_entry", "peer announced an unacceptable entry; ignored", {
          peer: conn.peer,
          path: f.path,
          problem,
        });
    }
    if (valid.length > 0) {
      try {
        this.db.putRemote(conn.deviceId, valid);
      } catch (err) {
        this.indexWriteFailed(peer, conn, err);
        return;
      }
      this.tracker.addDevice(conn.deviceId);
      for (const f of valid) this.tracker.evaluate(f.path);
    }
    if (unresolved !== null) this.deltaUnresolved(peer, conn, unresolved);
    else if (msg.complete && peer?.conn === conn) peer.indexComplete = true;
  }

  /**
   * The peer's entries could not be stored (disk full, say). Its announcements are dropped for a while,
   * then a new HELLO asks for everything after what is stored.
   */
  private indexWriteFailed(peer: PeerState | undefined, conn: Connection, err: unknown): void {
    this.log.log(
      "error",
      "sync.index_write_failed",
      `cannot store the peer's index: ${ioProblem(err)}; will ask again`,
      {
        peer: conn.peer,
      },
    );
    if (peer?.conn !== conn || peer.resync !== null) return;
    const resync: NonNullable<PeerState["resync"]> = { hello: null };
    resync.hello = this.clock.setTimeout(() => {
      resync.hello = null;
      if (this.closing || this.peers.get(conn.deviceId) !== peer) return;
      conn.sendMessage(encodeHello(this.db.deviceId, this.db.remoteSequence(conn.deviceId)));
    }, this.opts.indexResyncMs ?? INDEX_RESYNC_MS);
    peer.resync = resync;
    peer.indexComplete = false;
  }

  /**
   * A delta of the peer's names a base that is no longer our local entry (we changed the file, and the
   * peer had not heard of it yet): the entry and the rest of its batch are dropped, and a HELLO asks for
   * everything after what is stored, with block lists in full.
   */
  private deltaUnresolved(peer: PeerState | undefined, conn: Connection, path: string): void {
    this.log.log(
      "warn",
      "sync.delta_unresolved",
      "peer announced changes against a version we no longer have; asking for full block lists",
      { peer: conn.peer, path },
    );
    if (peer?.conn !== conn || peer.resync !== null) return;
    peer.resync = { hello: null };
    peer.indexComplete = false;
    conn.sendMessage(encodeHello(this.db.deviceId, this.db.remoteSequence(conn.deviceId), true));
  }

  private onLocalChanges(files: FileInfo[]): void {
    this.applier.forgetDirs();
    for (const f of files) this.tracker.evaluate(f.path);
    this.announcer.changed();
  }

  /** The connections of those devices that are connected now. */
  private connected(devices: readonly string[]): Connection[] {
    const out: Connection[] = [];
    for (const device of devices) {
      const peer = this.peers.get(device);
      if (peer !== undefined) out.push(peer.conn);
    }
    return out;
  }

  /** Work became ready: start it once the current burst of decisions (one INDEX, say) is complete. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.maxActive) {
      const t = this.tracker.take();
      if (t === undefined) return;
      const run = this.run(t).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(t: TrackedNeed): Promise<void> {
    let outcome: ApplyOutcome | "no-source" | "retry";
    try {
      outcome = await this.attempt(t);
    } catch (err) {
      this.log.log("error", "sync.failed", "applying a change failed", {
        path: t.need.target.path,
        error: String(err),
      });
      outcome = "retry";
    }
    if (outcome === "done") this.announcer.changed();
    if (this.closing) return;
    switch (outcome) {
      case "done":
      case "stale":
        this.tracker.finished(t);
        return;
      case "no-source":
        this.tracker.waitForSource(t);
        return;
      case "local-change":
        this.tracker.retryLater(t, LOCAL_CHANGE_RETRY_MS);
        return;
      case "blocked":
      case "retry":
        this.tracker.retryLater(t);
        return;
    }
  }

  private async attempt(t: TrackedNeed): Promise<ApplyOutcome | "no-source" | "retry"> {
    const need = this.tracker.withBlocks(t.need);
    if (need === null) return "stale";
    const { base } = t;
    if (need.op !== "pull") return this.applier.apply(need, base);
    const target = need.target;
    const blocked = await this.applier.precondition(need, base);
    if (blocked !== null) return blocked;
    // Looked up once per attempt; which of those peers are connected is checked per block.
    const devices = this.db.devicesHaving(target.path, target.digest);
    const assembled = await this.assembler.assemble(target, () => this.connected(devices));
    if (!assembled.ok) return assembled.reason === "no-source" ? "no-source" : "retry";
    const outcome = await this.applier.apply(need, base, assembled.tmpPath);
    if (outcome === "done") this.assembler.placed(target);
    else this.assembler.unplaced(target, assembled.tmpPath);
    return outcome;
  }

  /**
   * Forgets downloads of versions no longer needed, and removes tmp files no remaining download refers
   * to (left by a crash, or by a version that was superseded meanwhile).
   */
  private async cleanTmp(): Promise<void> {
    const tmp = join(this.opts.dir, TMP_DIR);
    await mkdir(tmp, { recursive: true });
    const keep = new Set<string>();
    for (const p of this.db.partials()) {
      const need = this.tracker.get(p.path)?.need;
      if (need?.op === "pull" && need.target.digest === p.digest) keep.add(p.tmpName);
      else this.db.dropPartial(p.path, p.digest);
    }
    for (const name of await readdir(tmp)) {
      if (!keep.has(name)) await unlink(join(tmp, name)).catch(() => undefined);
    }
  }
}
