/**
 * Block requests to peers: picks which connected peer asks for a block, matches RESPONSEs to REQUESTs by
 * id, and fails requests whose peer went away or stayed silent, so that the puller can retry elsewhere.
 * Spreading is by outstanding bytes: a faster peer drains its share sooner and so is asked more often.
 */
import type { Connection } from "../transport/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { encodeRequest, type Request, type Response, ResponseStatus } from "./protocol.js";

export type BlockRequest = Omit<Request, "type" | "reqId">;

export type FetchResult =
  /** `compressed`: `data` is the block as a Brotli stream. */
  | { ok: true; data: Uint8Array; compressed: boolean; device: string }
  /** `device` is the peer that failed ("" when no peer could be asked). */
  | { ok: false; reason: "unavailable" | "peer-down" | "timeout" | "no-source" | "closed"; device: string };

interface Pending {
  device: string;
  size: number;
  timer: TimerHandle;
  resolve: (r: FetchResult) => void;
}

/** A request id space of 2^32 with wrap-around; ids of requests still pending are skipped. */
const MAX_REQ_ID = 0xffffffff;

export class BlockFetcher {
  private readonly pending = new Map<number, Pending>();
  private readonly outstanding = new Map<string, number>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** Asks the least loaded of `sources` for the block. Never rejects. */
  fetch(sources: readonly Connection[], req: BlockRequest): Promise<FetchResult> {
    if (this.closed) return Promise.resolve({ ok: false, reason: "closed", device: "" });
    const conn = this.leastLoaded(sources);
    if (conn === undefined) return Promise.resolve({ ok: false, reason: "no-source", device: "" });
    const reqId = this.allocateId();
    const device = conn.deviceId;
    this.outstanding.set(device, (this.outstanding.get(device) ?? 0) + req.size);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(
        () => this.settle(reqId, { ok: false, reason: "timeout", device }),
        this.timeoutMs,
      );
      this.pending.set(reqId, { device, size: req.size, timer, resolve });
      conn.sendMessage(encodeRequest({ reqId, ...req }));
    });
  }

  /** A RESPONSE arrived from `conn`; responses nobody waits for (late, forged) are ignored. */
  onResponse(conn: Connection, res: Response): void {
    const p = this.pending.get(res.reqId);
    if (p === undefined || p.device !== conn.deviceId) return;
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
    for (const [id, p] of this.pending) {
      if (p.device === device) this.settle(id, { ok: false, reason: "peer-down", device });
    }
  }

  /** Fails everything pending and every later fetch. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) this.settle(id, { ok: false, reason: "closed", device: p.device });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private settle(reqId: number, result: FetchResult): void {
    const p = this.pending.get(reqId);
    if (p === undefined) return;
    this.pending.delete(reqId);
    p.timer.cancel();
    const left = (this.outstanding.get(p.device) ?? 0) - p.size;
    if (left > 0) this.outstanding.set(p.device, left);
    else this.outstanding.delete(p.device);
    p.resolve(result);
  }

  private leastLoaded(sources: readonly Connection[]): Connection | undefined {
    let best: Connection | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const c of sources) {
      const load = this.outstanding.get(c.deviceId) ?? 0;
      if (load < bestLoad) {
        best = c;
        bestLoad = load;
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
