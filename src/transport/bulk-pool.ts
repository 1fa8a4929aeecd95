/**
 * Recycled buffers for bulk messages, on both sides of a connection.
 *
 * Why: on this VM the first write into freshly allocated memory costs 1–10 ms per MiB (the hypervisor
 * reclaims freed guest pages, so every new mapping faults page by page). A receiver that allocated one
 * reassembly buffer per message, or a sender that read each block into a new buffer, spent most of its
 * time there. A buffer that is reused is already mapped: writing it runs at memory speed.
 *
 * Buffers come in size classes of 2^k bytes plus `HEADROOM`, so an application header in front of a
 * power-of-two block (sync's RESPONSE has 5 bytes) does not double the class. Only the bytes a message
 * occupies are ever written, so the unused tail of a class costs address space, not memory.
 *
 * Ownership. A buffer is reused only once nobody holds it. Two kinds of holders:
 * - the application, at most once: from `allocate` (a buffer to fill and send) or from `deliver` (a
 *   received message handed over) until it calls `release`, which it does at most once and after its
 *   last use; a second release is ignored;
 * - the transport, any number of times: while it reassembles into the buffer (`acquire`) and while a
 *   message in it is queued or unacknowledged (`retain` ... `drop`), once per send.
 * Any view into the buffer identifies it. Buffers the pool did not hand out are ignored everywhere. A
 * buffer the application never releases is simply collected by the GC: forgetting to release costs
 * speed, never correctness.
 */

/** Room above each power of two for an application header. */
export const HEADROOM = 4096;
const MIN_SHIFT = 16;
const MAX_SHIFT = 24;
/** Idle bytes kept for reuse across all classes; what is released beyond this is left to the GC. */
const DEFAULT_MAX_IDLE_BYTES = 96 * 1024 * 1024;

export interface BufferPoolStats {
  /** Buffers created because no idle one of the class was available. */
  allocated: number;
  /** Buffers handed out again after they were released. */
  reused: number;
  /** Bytes held by idle buffers. */
  idleBytes: number;
}

/** Who holds a buffer that is out of the pool. */
class Lease {
  /** The application holds it (allocated, or a delivered message) and has not released it. */
  app = false;
  /** Holds by the transport: a reassembly in progress, or sends not yet acknowledged. */
  transport = 0;

  constructor(readonly cls: number) {}
}

export class BufferPool {
  /** Idle buffers per class, used last-in first-out: the most recently used is likeliest to be cached. */
  private readonly idle: ArrayBuffer[][] = [];
  /** Buffers out of the pool. Weak: a buffer dropped without a release must not be kept alive. */
  private readonly leases = new WeakMap<ArrayBuffer, Lease>();
  private readonly counters: BufferPoolStats = { allocated: 0, reused: 0, idleBytes: 0 };

  constructor(private readonly maxIdleBytes = DEFAULT_MAX_IDLE_BYTES) {
    for (let shift = MIN_SHIFT; shift <= MAX_SHIFT; shift++) this.idle.push([]);
  }

  /** Largest length the pool serves. */
  static get maxLength(): number {
    return 2 ** MAX_SHIFT + HEADROOM;
  }

  /** For the transport: a buffer to reassemble a message of `length` bytes into (a transport hold). */
  acquire(length: number): Uint8Array {
    const [view, lease] = this.take(length);
    lease.transport = 1;
    return view;
  }

  /** For the application: a buffer of `length` uninitialised bytes to fill and send. */
  allocate(length: number): Uint8Array {
    const [view, lease] = this.take(length);
    lease.app = true;
    return view;
  }

  /** The transport's reassembly hold passes to the application, which received the message. */
  deliver(view: Uint8Array): void {
    const lease = this.leaseOf(view);
    if (lease === undefined || lease.transport === 0) return;
    lease.transport--;
    lease.app = true;
  }

  /** The transport keeps the buffer while it sends a message in it; false if it is not pooled. */
  retain(view: Uint8Array): boolean {
    const lease = this.leaseOf(view);
    if (lease === undefined) return false;
    lease.transport++;
    return true;
  }

  /** Ends one transport hold (reassembly abandoned, or a send acknowledged or given up). */
  drop(view: Uint8Array): void {
    const lease = this.leaseOf(view);
    if (lease === undefined || lease.transport === 0) return;
    lease.transport--;
    this.recycleIfFree(view.buffer as ArrayBuffer, lease);
  }

  /** The application is done with the buffer. Returns false if it held none there (ignored). */
  release(view: Uint8Array): boolean {
    const lease = this.leaseOf(view);
    if (lease === undefined || !lease.app) return false;
    lease.app = false;
    this.recycleIfFree(view.buffer as ArrayBuffer, lease);
    return true;
  }

  stats(): BufferPoolStats {
    return { ...this.counters };
  }

  private take(length: number): [Uint8Array, Lease] {
    if (!(length >= 0 && length <= BufferPool.maxLength)) throw new RangeError(`cannot pool ${length} bytes`);
    const cls = classOf(length);
    let buffer = this.idle[cls]!.pop();
    if (buffer === undefined) {
      // allocUnsafeSlow: a buffer of its own (never a slice of Node's shared pool), not zero-filled.
      buffer = Buffer.allocUnsafeSlow(capacityOf(cls)).buffer as ArrayBuffer;
      this.counters.allocated++;
    } else {
      this.counters.idleBytes -= buffer.byteLength;
      this.counters.reused++;
    }
    const lease = new Lease(cls);
    this.leases.set(buffer, lease);
    return [new Uint8Array(buffer, 0, length), lease];
  }

  private leaseOf(view: Uint8Array): Lease | undefined {
    const buffer = view.buffer;
    return buffer instanceof ArrayBuffer ? this.leases.get(buffer) : undefined;
  }

  private recycleIfFree(buffer: ArrayBuffer, lease: Lease): void {
    if (lease.app || lease.transport > 0) return;
    this.leases.delete(buffer);
    if (this.counters.idleBytes + buffer.byteLength > this.maxIdleBytes) return;
    this.idle[lease.cls]!.push(buffer);
    this.counters.idleBytes += buffer.byteLength;
  }
}

function classOf(length: number): number {
  let shift = MIN_SHIFT;
  while (2 ** shift + HEADROOM < length) shift++;
  return shift - MIN_SHIFT;
}

function capacityOf(cls: number): number {
  return 2 ** (cls + MIN_SHIFT) + HEADROOM;
}

/** The pool every connection in this process takes bulk buffers from. */
export const bulkBuffers = new BufferPool();

/**
 * A buffer for a bulk message of `length` bytes (at most 16 MiB + 4 KiB), from the pool, uninitialised.
 * Fill it, pass it (or a view of it) to `sendBulk`, then `releaseBulk` it: the transport keeps it until
 * the message is acknowledged and reuses it afterwards. Optional: a plain buffer works the same, only
 * slower (fresh memory costs 1–10 ms per MiB here).
 */
export function allocBulk(length: number): Uint8Array {
  return bulkBuffers.allocate(length);
}

/**
 * Gives back the application's hold on a bulk buffer: a received message once the application has
 * finished reading it (after the write that consumed it completed, say), or a buffer from `allocBulk`
 * once it has been passed to `sendBulk` or is not needed. Call it once, after the last use: the buffer
 * may then be reused for another message. `msg` may be any view into the buffer; a buffer the pool did
 * not hand out, or a second release, is ignored. Optional: an unreleased buffer is garbage-collected.
 */
export function releaseBulk(msg: Uint8Array): void {
  bulkBuffers.release(msg);
}
