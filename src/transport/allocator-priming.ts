/**
 * Keeps glibc from handing the heap back to the kernel after every burst of received datagrams.
 *
 * Node allocates a new backing store for every datagram it receives (64 KiB for the read, then one of
 * the datagram's size, zero-filled, into which it copies). V8 frees the dead ones in bursts, at each
 * young-generation GC; those frees merge into the top of glibc's heap, and once the free top exceeds
 * glibc's trim threshold (128 KiB by default) the heap is shrunk, so the next datagrams land on fresh
 * pages. On this VM a first touch of a page costs 1–10 ms per MiB: profiles of a receiving endpoint
 * showed half of its CPU time in those page faults and the zero-fill that takes them.
 *
 * glibc adapts on its own when a large mmap()ed block is freed: mallopt(3), "dynamic mmap threshold",
 * raises the mmap threshold to that block's size and the trim threshold to twice that. So one block
 * just under the adaptive ceiling (32 MiB on 64-bit), allocated and dropped, makes the heap keep up to
 * ~62 MiB of free memory instead of trimming it: the GC frees it at one of its first collections.
 * Measured (48000-byte datagrams, separate processes): 145–161 µs of receiver CPU per datagram
 * before, 27–29 µs after, the same as with MALLOC_TRIM_THRESHOLD_ set in the environment.
 *
 * Costs: up to ~62 MiB of freed memory stays with the process, and blocks below 31 MiB come from the
 * heap rather than mmap(). Harmless elsewhere: if MALLOC_* variables or mallopt() fixed the thresholds,
 * or the allocator is not glibc's, this is only a short-lived 31 MiB allocation.
 */

/** Below glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB) including the chunk header, or it is ignored. */
const PRIMING_BYTES = 31 * 1024 * 1024;
let primed = false;

/** Once per process, before the first socket opens. */
export function primeAllocator(): void {
  if (primed) return;
  primed = true;
  // allocUnsafeSlow: its own malloc() (mmap()ed at this size), not a slice of Node's pool, not touched.
  Buffer.allocUnsafeSlow(PRIMING_BYTES);
}
