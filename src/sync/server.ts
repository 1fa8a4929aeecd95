/**
 * Answers peers' block REQUESTs from local files. A block is served only from where our index says
 * those bytes are (any local file with that block, or the requested version of the requested file), and
 * only after re-hashing what was read: the file may have changed since it was indexed. Reads are
 * bounded per peer, and a peer whose bulk queue is full gets nothing more until its 'drain'.
 */
import { join } from "node:path";
import { xxh64Hex } from "../pipeline/hash.js";
import type { Connection } from "../transport/types.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { type CompressMode, compressBlock, shouldCompress } from "./compress.js";
import { OpenFiles } from "./open-files.js";
import { pathProblem } from "./paths.js";
import type { SyncIndex } from "./ports.js";
import {
  encodeResponse,
  RESPONSE_HEADER_BYTES,
  type Request,
  ResponseStatus,
  writeResponseHeader,
} from "./protocol.js";

export interface BlockServerOptions {
  dir: string;
  db: SyncIndex;
  log: Logger;
  clock: Clock;
  compress: CompressMode;
  /** Concurrent disk reads per peer. */
  readsPerPeer?: number;
  /** Requests queued per peer beyond which new ones are refused (a well-behaved peer stays far below). */
  maxQueued?: number;
}

interface PeerQueue {
  conn: Connection;
  queue: Request[];
  reading: number;
  /** sendBulk said the transport's queue is full: wait for 'drain'. */
  blocked: boolean;
  gone: boolean;
  /** Requests are being refused for a full queue (logged once per episode). */
  overloaded: boolean;
}

const UNAVAILABLE = new Uint8Array(RESPONSE_HEADER_BYTES);

export class BlockServer {
  private readonly peers = new Map<Connection, PeerQueue>();
  private readonly readsPerPeer: number;
  private readonly maxQueued: number;
  private readonly files: OpenFiles;

  constructor(private readonly opts: BlockServerOptions) {
    this.files = new OpenFiles(opts.clock);
    this.readsPerPeer = opts.readsPerPeer ?? 8;
    this.maxQueued = opts.maxQueued ?? 8192;
  }

  handle(conn: Connection, req: Request): void {
    const peer = this.peerFor(conn);
    if (peer.queue.length >= this.maxQueued) {
      if (!peer.overloaded) {
        this.opts.log.log("warn", "serve.overload", "peer exceeds the request queue; refusing", {
          peer: conn.peer,
        });
      }
      peer.overloaded = true;
      this.reply(peer, req.reqId, null);
      return;
    }
    peer.overloaded = false;
    peer.queue.push(req);
    this.pump(peer);
  }

  drain(conn: Connection): void {
    const peer = this.peers.get(conn);
    if (peer === undefined) return;
    peer.blocked = false;
    this.pump(peer);
  }

  /** Closes the cached file handles. */
  close(): void {
    this.files.close();
  }

  peerDown(conn: Connection): void {
    const peer = this.peers.get(conn);
    if (peer === undefined) return;
    peer.gone = true;
    peer.queue.length = 0;
    this.peers.delete(conn);
  }

  private peerFor(conn: Connection): PeerQueue {
    let peer = this.peers.get(conn);
    if (peer === undefined) {
      peer = { conn, queue: [], reading: 0, blocked: false, gone: false, overloaded: false };
      this.peers.set(conn, peer);
    }
    return peer;
  }

  private pump(peer: PeerQueue): void {
    while (!peer.blocked && !peer.gone && peer.reading < this.readsPerPeer && peer.queue.length > 0) {
      const req = peer.queue.shift()!;
      peer.reading++;
      void this.serve(peer, req).finally(() => {
        peer.reading--;
        this.pump(peer);
      });
    }
  }

  private async serve(peer: PeerQueue, req: Request): Promise<void> {
    const found = this.opts.db.findBlock(req.hash, req.size);
    let msg = found && (await this.readVerified(found.path, found.offset, req));
    if (!msg && this.hasVersion(req)) msg = await this.readVerified(req.path, req.offset, req);
    this.reply(
      peer,
      req.reqId,
      msg && shouldCompress(this.opts.compress, peer.conn)
        ? await this.compressed(msg, req.reqId)
        : (msg ?? null),
    );
  }

  /** The response in compressed form when that is smaller (its header rewritten), else unchanged. */
  private async compressed(msg: Uint8Array, reqId: number): Promise<Uint8Array> {
    const packed = await compressBlock(msg.subarray(RESPONSE_HEADER_BYTES));
    return packed === null ? msg : encodeResponse(reqId, ResponseStatus.Compressed, packed);
  }

  /** Our index has exactly the requested version of the requested file, with that block at that offset. */
  private hasVersion(req: Request): boolean {
    if (pathProblem(req.path) !== null) return false;
    const local = this.opts.db.getLocal(req.path);
    if (local === undefined || local.deleted || local.type !== "file" || local.digest !== req.digest)
      return false;
    return local.blocks.some((b) => b.offset === req.offset && b.size === req.size && b.hash === req.hash);
  }

  /**
   * The RESPONSE message carrying the block read from `path` at `offset`, or null if the bytes differ. A
   * cached handle may belong to a file since replaced: on a mismatch the path is opened afresh once.
   */
  private async readVerified(path: string, offset: number, req: Request): Promise<Uint8Array | null> {
    const msg = Buffer.allocUnsafe(RESPONSE_HEADER_BYTES + req.size);
    const data = msg.subarray(RESPONSE_HEADER_BYTES);
    const abs = join(this.opts.dir, path);
    for (let attempt = 0; attempt < 2; attempt++) {
      if ((await this.files.read(abs, data, req.size, offset)) && xxh64Hex(data) === req.hash) {
        writeResponseHeader(msg, req.reqId, ResponseStatus.Ok);
        return msg;
      }
      this.files.evict(abs);
    }
    return null;
  }

  private reply(peer: PeerQueue, reqId: number, msg: Uint8Array | null): void {
    if (peer.gone) return;
    let out = msg;
    if (out === null) {
      out = UNAVAILABLE.slice();
      writeResponseHeader(out, reqId, ResponseStatus.Unavailable);
    }
    if (!peer.conn.sendBulk(out)) peer.blocked = true;
  }
}
