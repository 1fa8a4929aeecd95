/**
 * Answers peers' block REQUESTs (runs of consecutive blocks, see run.ts) from local files. Bytes are read
 * only where our index says they are (the requested version of the requested file; for a single block
 * also any local file with that block), and served only after re-hashing each block: the file may have
 * changed since it was indexed. Reads are bounded per peer, and a peer whose bulk queue is full gets
 * nothing more until its 'drain'.
 */
import { join } from "node:path";
import { allocBulk, type Connection, releaseBulk } from "../transport/types.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { type CompressMode, compressBlock, shouldCompress } from "./compress.js";
import { ioProblem } from "./io-errors.js";
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
import { badBlocks, runBytes } from "./run.js";

export interface BlockServerOptions {
  dir: string;
  db: SyncIndex;
  log: Logger;
  clock: Clock;
  compress: CompressMode;
  /** Concurrent disk reads per peer. */
  readsPerPeer?: number;
  /**
   * Blocks (in all queued requests) per peer beyond which new requests are refused: a request holds up
   * to MAX_RUN_BLOCKS decoded blocks, so this, not the request count, bounds the memory a peer can make
   * us hold. A well-behaved peer stays far below (its pull budget is tens of MiB).
   */
  maxQueuedBlocks?: number;
}

interface PeerQueue {
  conn: Connection;
  queue: Request[];
  /** Blocks in `queue`. */
  queuedBlocks: number;
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
  private readonly maxQueuedBlocks: number;
  private readonly files: OpenFiles;

  constructor(private readonly opts: BlockServerOptions) {
    this.files = new OpenFiles(opts.clock);
    this.readsPerPeer = opts.readsPerPeer ?? 8;
    this.maxQueuedBlocks = opts.maxQueuedBlocks ?? 65536;
  }

  handle(conn: Connection, req: Request): void {
    const peer = this.peerFor(conn);
    if (peer.queuedBlocks + req.blocks.length > this.maxQueuedBlocks) {
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
    peer.queuedBlocks += req.blocks.length;
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
    peer.queuedBlocks = 0;
    this.peers.delete(conn);
  }

  private peerFor(conn: Connection): PeerQueue {
    let peer = this.peers.get(conn);
    if (peer === undefined) {
      peer = { conn, queue: [], queuedBlocks: 0, reading: 0, blocked: false, gone: false, overloaded: false };
      this.peers.set(conn, peer);
    }
    return peer;
  }

  private pump(peer: PeerQueue): void {
    while (!peer.blocked && !peer.gone && peer.reading < this.readsPerPeer && peer.queue.length > 0) {
      const req = peer.queue.shift()!;
      peer.queuedBlocks -= req.blocks.length;
      peer.reading++;
      this.serve(peer, req)
        .catch((err: unknown) => {
          // An index or compression failure costs this answer, never the daemon.
          this.opts.log.log("warn", "serve.failed", `cannot serve a block request: ${ioProblem(err)}`, {
            peer: peer.conn.peer,
          });
          this.reply(peer, req.reqId, null);
        })
        .finally(() => {
          peer.reading--;
          this.pump(peer);
        });
    }
  }

  private async serve(peer: PeerQueue, req: Request): Promise<void> {
    let msg = this.hasVersion(req) ? await this.readVerified(req.path, req.offset, req) : null;
    const only = req.blocks.length === 1 ? req.blocks[0]! : undefined;
    // A single block may also be in another file (or elsewhere in a newer version of this one).
    const found =
      msg === null && only !== undefined ? this.opts.db.findBlock(only.hash, only.size) : undefined;
    if (found !== undefined) msg = await this.readVerified(found.path, found.offset, req);
    if (msg !== null && shouldCompress(this.opts.compress, peer.conn)) {
      const packed = await compressBlock(msg.subarray(RESPONSE_HEADER_BYTES));
      if (packed !== null) {
        releaseBulk(msg);
        msg = encodeResponse(req.reqId, ResponseStatus.Compressed, packed);
      }
    }
    this.reply(peer, req.reqId, msg);
  }

  /**
   * Our index has the requested version of the requested file: only then is the file read at a peer's
   * offset (a path the scanner indexed never leads outside the share or through a symlink).
   */
  private hasVersion(req: Request): boolean {
    return pathProblem(req.path) === null && this.opts.db.localFileDigest(req.path) === req.digest;
  }

  /**
   * The RESPONSE message carrying the run read from `path` at `offset`, in a pooled bulk buffer, or null
   * if any block's bytes differ from its hash. A cached handle may belong to a file since replaced: on a
   * mismatch the path is opened afresh once.
   */
  private async readVerified(path: string, offset: number, req: Request): Promise<Uint8Array | null> {
    const size = runBytes(req.blocks);
    const msg = allocBulk(RESPONSE_HEADER_BYTES + size);
    const data = msg.subarray(RESPONSE_HEADER_BYTES);
    const abs = join(this.opts.dir, path);
    for (let attempt = 0; attempt < 2; attempt++) {
      if ((await this.files.read(abs, data, size, offset)) && badBlocks(data, req.blocks).length === 0) {
        writeResponseHeader(msg, req.reqId, ResponseStatus.Ok);
        return msg;
      }
      this.files.evict(abs);
    }
    releaseBulk(msg);
    return null;
  }

  private reply(peer: PeerQueue, reqId: number, msg: Uint8Array | null): void {
    if (peer.gone) return;
    let out = msg;
    if (out === null) {
      out = UNAVAILABLE.slice();
      writeResponseHeader(out, reqId, ResponseStatus.Unavailable);
    }
    const more = peer.conn.sendBulk(out);
    releaseBulk(out);
    if (!more) peer.blocked = true;
  }
}
