/**
 * Block requests to peers: picks which connected peer asks for a block, matches RESPONSEs to REQUESTs by
 * id, and fails requests whose peer went away or stopped answering, so that the puller can retry
 * elsewhere. Spreading is by outstanding bytes: a faster peer drains its share sooner and so is asked
 * more often.
 *
 * The timeout is per peer, not per request: a peer answers its requests in order, so on a slow link the
 * last of many queued requests legitimately waits long. A peer that has requests pending and has not
 * answered any of them for the timeout is considered stuck, and all its requests fail.
 */
import { type Connection, releaseBulk } from "../transport/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { encodeRequest, type Request, type Response, ResponseStatus } from "./protocol.js";
import { runBytes } from "./run.js";

export type BlockRequest = Omit<Request, "type" | "reqId">;

export type FetchResult =
  /**
   * `data` is the run, or with `compressed` its Brotli stream: a view into a pooled bulk buffer, to be
   * given back with releaseBulk once read.
   */
  | { ok: true; data: Uint8Array; compressed: boolean; device: string }
  /** `device` is the peer that failed ("" when no peer could be asked). */
  | { ok: false; reason: "unavailable" | "peer-down" | "timeout" | "no-source" | "closed"; device: string };

interface Pending {
  device: string;
  size: number;
  resolve: (r: FetchResult) => void;
}

interface PeerLoad {
  bytes: number;
  requests: number;
  /** Last time this peer answered anything (or was first asked). */
  lastProgress: number;
  watchdog: TimerHandle | null;
}

/** A request id space of 2^32 with wrap-around; ids of requests still pending are skipped. */
const MAX_REQ_ID = 0xffffffff;

export class BlockFetcher {
  private readonly pending = new Map<number, Pending>();
  private readonly load = new Map<string, PeerLoad>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** Asks the least loaded of `sources` for the run. Never rejects. */
  fetch(sources: readonly Connection[], req: BlockRequest): Promise<FetchResult> {
    if (this.closed) return Promise.resolve({ ok: false, reason: "closed", device: "" });
    const conn = this.leastLoaded(sources);
    if (conn === undefined) return Promise.resolve({ ok: false, reason: "no-source", device: "" });
    const reqId = this.allocateId();
    const device = conn.deviceId;
    const load = this.loadOf(device);
    const size = runBytes(req.blocks);
    load.bytes += size;
    load.requests++;
    load.watchdog ??= this.clock.setTimeout(() => this.check(device), this.timeoutMs);
    return new Promise((resolve) => {
      this.pending.set(reqId, { device, size, resolve });
      conn.sendMessage(encodeRequest({ reqId, ...req }));
    });
  }

  /** A RESPONSE arrived from `conn`; responses nobody waits for (late, forged) are ignored. */
  onResponse(conn: Connection, res: Response): void {
    const p = this.pending.get(res.reqId);
    const awaited = p !== undefined && p.device === conn.deviceId;
    if (!awaited || res.status === ResponseStatus.Unavailable) releaseBulk(res.data);
    if (!awaited) return;
    this.loadOf(p.device).lastProgress = this.clock.now();
    this.settle(
      res.reqId,
      res.status === ResponseStatus.Unavailable
        ? { ok: false, reason: "unavailable", device: p.device }
        : {
            ok: true,
            data: res.data,
            compressed: res.status === ResponseStatus.Compressed,
            device: p.device,
          },
    );
  }

  /** Fails every request pending at `device`. */
  peerDown(device: string): void {
    this.failAll(device, "peer-down");
  }

  /** Fails everything pending and every later fetch. */
  close(): void {
    this.closed = true;
    for (const device of [...this.load.keys()]) this.failAll(device, "closed");
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private loadOf(device: string): PeerLoad {
    let load = this.load.get(device);
    if (load === undefined) {
      load = { bytes: 0, requests: 0, lastProgress: this.clock.now(), watchdog: null };
      this.load.set(device, load);
    }
    return load;
  }

  /** The watchdog of a peer with pending requests: silent for the whole timeout means stuck. */
  private check(device: string): void {
    const load = this.load.get(device);
    if (load === undefined) return;
    load.watchdog = null;
    const silentFor = this.clock.now() - load.lastProgress;
    if (silentFor >= this.timeoutMs) this.failAll(device, "timeout");
    else load.watchdog = this.clock.setTimeout(() => this.check(device), this.timeoutMs - silentFor);
  }

  private failAll(device: string, reason: "peer-down" | "timeout" | "closed"): void {
    for (const [id, p] of this.pending)
      if (p.device === device) this.settle(id, { ok: false, reason, device });
  }

  private settle(reqId: number, result: FetchResult): void {
    const p = this.pending.get(reqId);
    if (p === undefined) return;
    this.pending.delete(reqId);
    const load = this.load.get(p.device)!;
    load.bytes -= p.size;
    load.requests--;
    if (load.requests === 0) {
      // Idle peers keep no timer; the next request starts a fresh silence window.
      load.watchdog?.cancel();
      this.load.delete(p.device);
    }
    p.resolve(result);
  }

  private leastLoaded(sources: readonly Connection[]): Connection | undefined {
    let best: Connection | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const c of sources) {
      const bytes = this.load.get(c.deviceId)?.bytes ?? 0;
      if (bytes < bestLoad) {
        best = c;
        bestLoad = bytes;
      }
    }
    return best;
  }

  private allocateId(): number {
    while (this.pending.has(this.nextId)) this.nextId = this.nextId >= MAX_REQ_ID ? 1 : this.nextId + 1;
    const id = this.nextId;
    this.nextId = id >= MAX_REQ_ID ? 1 : id + 1;
    return id;
  }
}
