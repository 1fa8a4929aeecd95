/**
 * Recycled reassembly buffers for bulk messages.
 *
 * Why: on this VM the first write into freshly allocated memory costs 1–10 ms per MiB (the hypervisor
 * reclaims freed guest pages, so every new mapping faults page by page), and a receiver that allocated
 * one buffer per message spent most of its time there. A buffer that is reused is already mapped: the
 * copy into it runs at memory speed.
 *
 * Buffers come in size classes of 2^k bytes plus `HEADROOM`, so an application header in front of a
 * power-of-two block (sync's RESPONSE has 5 bytes) does not double the class. Only the bytes a message
 * occupies are ever written, so the unused tail of a class costs address space, not memory.
 *
 * Ownership: the transport takes a buffer for each message it reassembles and hands the application a
 * view of exactly the message's bytes. The application may give it back with `release` (any view into
 * it will do) once it no longer reads it; until then the pool never reuses it. A buffer that is never
 * given back is simply collected by the GC, so forgetting to release costs speed, never correctness.
 * Releasing a buffer the pool did not hand out, or releasing twice, is ignored.
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
  /** Buffers handed out again after a release. */
  reused: number;
  /** Bytes held by idle buffers. */
  idleBytes: number;
}

export class BufferPool {
  /** Idle buffers per class, used last-in first-out: the most recently used is likeliest to be cached. */
  private readonly idle: ArrayBuffer[][] = [];
  /**
   * Buffers handed out and not yet released, with their class. Weak, so that a buffer the application
   * keeps forever, or drops without releasing, is not kept alive by the pool.
   */
  private readonly lent = new WeakMap<ArrayBuffer, number>();
  private readonly counters: BufferPoolStats = { allocated: 0, reused: 0, idleBytes: 0 };

  constructor(private readonly maxIdleBytes = DEFAULT_MAX_IDLE_BYTES) {
    for (let shift = MIN_SHIFT; shift <= MAX_SHIFT; shift++) this.idle.push([]);
  }

  /** Largest length `acquire` serves. */
  static get maxLength(): number {
    return 2 ** MAX_SHIFT + HEADROOM;
  }

  /** A view of `length` uninitialised bytes at the start of a buffer the caller now owns. */
  acquire(length: number): Uint8Array {
    if (!(length >= 0 && length <= BufferPool.maxLength)) throw new RangeError(`cannot pool ${length} bytes`);
    const cls = classOf(length);
    const spare = this.idle[cls]!.pop();
    let buffer: ArrayBuffer;
    if (spare === undefined) {
      // allocUnsafeSlow: a buffer of its own (never a slice of Node's shared pool), not zero-filled.
      buffer = Buffer.allocUnsafeSlow(capacityOf(cls)).buffer;
      this.counters.allocated++;
    } else {
      buffer = spare;
      this.counters.idleBytes -= buffer.byteLength;
      this.counters.reused++;
    }
    this.lent.set(buffer, cls);
    return new Uint8Array(buffer, 0, length);
  }

  /**
   * Gives back the buffer `view` lies in. Returns false (and does nothing) if the pool did not hand it
   * out or it was already released. The caller must not touch any view of it afterwards.
   */
  release(view: Uint8Array): boolean {
    const buffer = view.buffer;
    if (!(buffer instanceof ArrayBuffer)) return false;
    const cls = this.lent.get(buffer);
    if (cls === undefined) return false;
    this.lent.delete(buffer);
    if (this.counters.idleBytes + buffer.byteLength <= this.maxIdleBytes) {
      this.idle[cls]!.push(buffer);
      this.counters.idleBytes += buffer.byteLength;
    }
    return true;
  }

  stats(): BufferPoolStats {
    return { ...this.counters };
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

/** The pool every connection in this process reassembles bulk messages into. */
export const bulkBuffers = new BufferPool();

/**
 * Returns a received bulk message's buffer for reuse once the application is done with it (e.g. after
 * the write that consumed it completed). `msg` may be the message from the 'bulk' event or any view
 * into it; anything else is ignored. Optional: an unreleased message is garbage-collected as usual.
 */
export function releaseBulk(msg: Uint8Array): void {
  bulkBuffers.release(msg);
}
