/**
 * In-memory stand-ins for the transport and the local folder, so the sync modules can be driven
 * without sockets or a scanner: a recording Connection, a linked pair of endpoints, and a folder that
 * records pulled entries in a real IndexDb with the entry's real stat.
 */
import { EventEmitter } from "node:events";
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { IndexDb } from "../../../src/index/db.js";
import type { FileInfo, StatRecord } from "../../../src/index/types.js";
import type { BlockFetcher } from "../../../src/sync/fetcher.js";
import type { SyncFolder } from "../../../src/sync/ports.js";
import { decodeMessage, MessageType, type Request, ResponseStatus } from "../../../src/sync/protocol.js";
import { runBytes } from "../../../src/sync/run.js";
import type { Connection, ConnectionStats, EndpointEvents } from "../../../src/transport/types.js";
import { DEV_A } from "./fixtures.js";

const ZERO_STATS: ConnectionStats = {
  srttMs: 0,
  cwndPackets: 0,
  packetsSent: 0,
  packetsLost: 0,
  packetsRetransmitted: 0,
  bytesInFlight: 0,
  packetsReceived: 0,
  pacingRateMBps: 0,
  bandwidthMBps: 0,
  bulkQueuedBytes: 0,
};

/** Records what is sent; `bulkAccepts` is what sendBulk returns (false = "wait for drain"). */
export class RecordingConn implements Connection {
  readonly messages: Uint8Array[] = [];
  readonly bulk: Uint8Array[] = [];
  bulkAccepts = true;
  open = true;
  /** The congestion controller's estimate, as the transport would report it. */
  bandwidthMBps = 0;

  constructor(
    readonly peer: string,
    readonly deviceId: string,
  ) {}

  sendMessage(msg: Uint8Array): void {
    this.messages.push(Uint8Array.from(msg));
  }

  sendBulk(msg: Uint8Array): boolean {
    this.bulk.push(Uint8Array.from(msg));
    return this.bulkAccepts;
  }

  stats(): ConnectionStats {
    return { ...ZERO_STATS, bandwidthMBps: this.bandwidthMBps };
  }
}

/**
 * A peer that answers every REQUEST from `data` (the file's content) on the next turn, through
 * `fetcher`; `tamper` may change the bytes of an answer. `asked` lists the requests in order.
 */
export function servingPeer(
  fetcher: BlockFetcher,
  data: Uint8Array,
  tamper: (req: Request, bytes: Buffer) => Buffer = (_, bytes) => bytes,
): { peer: RecordingConn; asked: Request[] } {
  const peer = new RecordingConn("a:1", DEV_A);
  const asked: Request[] = [];
  peer.sendMessage = (msg) => {
    peer.messages.push(msg);
    const req = decodeMessage(msg);
    if ("kind" in req || req.type !== MessageType.Request) return;
    asked.push(req);
    const bytes = tamper(req, Buffer.from(data.subarray(req.offset, req.offset + runBytes(req.blocks))));
    setImmediate(() =>
      fetcher.onResponse(peer, {
        type: MessageType.Response,
        reqId: req.reqId,
        status: ResponseStatus.Ok,
        data: bytes,
      }),
    );
  };
  return { peer, asked };
}

/** One side of a linked pair: what it sends is emitted by the other side's endpoint, asynchronously. */
class LinkedConn implements Connection {
  other: LinkedConn | null = null;
  open = true;

  constructor(
    readonly peer: string,
    readonly deviceId: string,
    readonly endpoint: EventEmitter<EndpointEvents>,
  ) {}

  sendMessage(msg: Uint8Array): void {
    const copy = Uint8Array.from(msg);
    setImmediate(() => {
      if (this.open && this.other) this.other.endpoint.emit("message", this.other, copy);
    });
  }

  sendBulk(msg: Uint8Array): boolean {
    const copy = Uint8Array.from(msg);
    setImmediate(() => {
      if (this.open && this.other) this.other.endpoint.emit("bulk", this.other, copy);
    });
    return true;
  }

  stats(): ConnectionStats {
    return ZERO_STATS;
  }
}

export interface LinkedPair {
  a: EventEmitter<EndpointEvents>;
  b: EventEmitter<EndpointEvents>;
  connect(): void;
  disconnect(): void;
}

/** Two endpoints whose connection comes up on connect() and goes down on disconnect(). */
export function linkedEndpoints(deviceA: string, deviceB: string): LinkedPair {
  const a = new EventEmitter<EndpointEvents>();
  const b = new EventEmitter<EndpointEvents>();
  let conns: [LinkedConn, LinkedConn] | null = null;
  return {
    a,
    b,
    connect() {
      const toB = new LinkedConn("b:1", deviceB, a);
      const toA = new LinkedConn("a:1", deviceA, b);
      toB.other = toA;
      toA.other = toB;
      conns = [toB, toA];
      a.emit("peerUp", toB);
      b.emit("peerUp", toA);
    },
    disconnect() {
      if (conns === null) return;
      const [toB, toA] = conns;
      toB.open = false;
      toA.open = false;
      conns = null;
      a.emit("peerDown", toB, "test");
      b.emit("peerDown", toA, "test");
    },
  };
}

async function statOf(dir: string, path: string): Promise<StatRecord | null> {
  const abs = join(dir, path);
  try {
    const st = await lstat(abs);
    const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "file";
    const target = type === "symlink" ? await readlink(abs) : "";
    // As the scanner records it: only files have a size.
    const size = type === "file" ? st.size : 0;
    return { path, type, size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, ino: st.ino, target };
  } catch {
    return null;
  }
}

/** A folder without a scanner: recordPulled stores the entry with its current stat, like LocalFolder. */
export class FakeFolder extends EventEmitter<{ changed: [FileInfo[]] }> implements SyncFolder {
  readonly held = new Map<string, number>();
  readonly pulled: FileInfo[] = [];
  /** What busy() answers: a test sets it to stand for local changes still being hashed. */
  indexing = false;

  constructor(
    private readonly dir: string,
    private readonly db: IndexDb,
  ) {
    super();
  }

  async recordPulled(info: Omit<FileInfo, "sequence">): Promise<FileInfo> {
    const stat = info.deleted ? null : await statOf(this.dir, info.path);
    const stored = this.db.putLocal(info, stat);
    this.pulled.push(stored);
    return stored;
  }

  hold(path: string): void {
    this.held.set(path, (this.held.get(path) ?? 0) + 1);
  }

  release(path: string): void {
    const n = (this.held.get(path) ?? 0) - 1;
    if (n <= 0) this.held.delete(path);
    else this.held.set(path, n);
  }

  busy(): boolean {
    return this.indexing;
  }

  /** A local edit as the scanner would record it: the entry plus the file's stat, then 'changed'. */
  async recordLocal(info: Omit<FileInfo, "sequence">): Promise<FileInfo> {
    const stored = this.db.putLocal(info, info.deleted ? null : await statOf(this.dir, info.path));
    this.emit("changed", [stored]);
    return stored;
  }
}
