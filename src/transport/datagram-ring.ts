/**
 * The buffers a connection builds its datagrams in, used in turn. Without encryption each datagram is
 * gathered into one buffer (header, frames, data copied from the send queues, trailer) and sent as one
 * piece: one copy of 32 KB costs ~0.3 µs when the buffer is hot in cache, less than hashing scattered
 * parts (each part is a separate call into the WebAssembly hasher) and far less than allocating: fresh
 * memory costs 1–10 ms per MiB on this VM (bulk-pool.ts). With an AEAD only the header and the frame
 * headers are written here; bulk data is sealed where it lies (ConnectionImpl.sealInPlace).
 *
 * A buffer is reused `SLOTS` datagrams later. `socket.send` copies a datagram into the kernel before it
 * returns unless the socket's queue is non-empty; the connection sends nothing while it is (see
 * `ConnectionHost.socketBusy`), so at most one queued datagram can still refer to a slot.
 */
const SLOTS = 4;

export class DatagramRing {
  private readonly slots: Buffer[] = [];
  private next = 0;

  constructor(size: number) {
    // Written once now so that its pages are mapped before the first packet.
    const memory = Buffer.alloc(size * SLOTS);
    for (let i = 0; i < SLOTS; i++) this.slots.push(memory.subarray(i * size, (i + 1) * size));
  }

  take(): Buffer {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % SLOTS;
    return slot;
  }
}
