/**
 * The transport's public contract: what the sync layer, the CLI and the benchmarks may rely on.
 * Everything else under src/transport/ is an implementation detail behind `Endpoint`.
 */
import type { Clock, RandomSource } from "../util/clock.js";
import type { Logger } from "../util/log.js";

export { allocBulk, releaseBulk } from "./bulk-pool.js";

/** A peer as configured on the command line: `ip` (our own port) or `ip:port`. */
export interface PeerAddress {
  host: string;
  port: number;
}

/**
 * Hook through which src/crypto plugs into the handshake and packet protection, so that encryption
 * needs no change to the transport's state machines. `plaintextSecurity` is the no-key implementation.
 */
export interface SecurityProvider {
  /** True when every DATA packet is sealed with an AEAD; announced in the handshake. */
  readonly encrypted: boolean;
  /**
   * Proof of key possession over the handshake transcript (both nonces, both connection ids, both
   * device ids, the role). Empty when there is no key.
   */
  prove(role: HandshakeRole, transcript: Uint8Array): Uint8Array;
  /** Checks the peer's proof; false means "wrong key" and the connection is refused. */
  verify(role: HandshakeRole, transcript: Uint8Array, proof: Uint8Array): boolean;
  /** Per-connection packet protection derived from the transcript (fresh keys per connection). */
  protect(role: HandshakeRole, transcript: Uint8Array): PacketProtection;
}

export type HandshakeRole = "initiator" | "responder";

/** Seals and opens DATA packet payloads. The header is authenticated as associated data. */
export interface PacketProtection {
  /** Bytes added to each payload (AEAD tag); 0 for plaintext. */
  readonly overhead: number;
  /**
   * Seals the payload, given as consecutive parts, and returns the sealed payload as consecutive parts
   * (an AEAD: ciphertext, then tag), which the transport sends gathered behind the header: joining
   * them would cost a copy per packet. The parts may be views into queued messages; they are not
   * modified.
   */
  seal(header: Uint8Array, packetNumber: number, payload: readonly Uint8Array[]): readonly Uint8Array[];
  /** Returns the plaintext, or null if authentication fails (forged, corrupted, wrong key). */
  open(header: Uint8Array, packetNumber: number, sealed: Uint8Array): Uint8Array | null;
  /**
   * Optional zero-copy form of `seal` for protections that leave the payload bytes unchanged (an
   * integrity check without encryption): returns only the trailer that follows the payload, computed
   * over the header and the payload given as consecutive parts. When present the transport gathers
   * header, payload and trailer into one buffer and sends that; `open` must accept payload ‖ trailer.
   * `seal` must still produce the same bytes (in parts). When absent (the protection transforms the
   * payload) the transport hands `seal` the bulk data where it lies, without copying it first.
   */
  trailer?(header: Uint8Array, packetNumber: number, parts: readonly Uint8Array[]): Uint8Array;
}

export interface EndpointOptions {
  /** Local address to bind (default 0.0.0.0). */
  bind: string;
  /** Local UDP port, 20000–30000. */
  port: number;
  /** Peers we dial and the only ones we serve. */
  peers: PeerAddress[];
  /** Stable identity of this host's share (16 bytes), carried in the handshake. */
  deviceId: Uint8Array;
  /** UDP payload size in bytes (header + frames). */
  packetSize: number;
  /** Upper bound on packets in flight per connection (caps the congestion window). */
  window: number;
  security: SecurityProvider;
  log: Logger;
  clock?: Clock;
  random?: RandomSource;
  /** A connected peer silent this long is declared down and re-dialed (default 5000 ms). */
  idleTimeoutMs?: number;
  /**
   * `sendBulk` returns false once this many bytes of bulk messages are queued or unacknowledged on one
   * connection (default 16 MiB); 'drain' fires when it falls to half.
   */
  bulkHighWaterMark?: number;
}

export interface ConnectionStats {
  srttMs: number;
  cwndPackets: number;
  packetsSent: number;
  packetsLost: number;
  packetsRetransmitted: number;
  bytesInFlight: number;
  packetsReceived: number;
  /** Current pacing rate and bottleneck bandwidth estimate of the congestion controller. */
  pacingRateMBps: number;
  bandwidthMBps: number;
  /** Bulk bytes queued or awaiting acknowledgement (what `sendBulk`'s high-water mark bounds). */
  bulkQueuedBytes: number;
}

export interface EndpointStats {
  /** UDP payload bytes, every datagram, since start. */
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsRetransmitted: number;
  /** Datagrams dropped because they failed to decode or authenticate. */
  malformed: number;
  /** Datagrams from addresses not in `peers`. */
  strangers: number;
  /** Well-formed datagrams from a peer that matched no connection or handshake (stale or unknown id). */
  ignored: number;
}

/** One established, authenticated connection to a peer. */
export interface Connection {
  /** The peer's address as configured (`ip:port`), stable across reconnects. */
  readonly peer: string;
  /** The peer's stable device id (hex). */
  readonly deviceId: string;
  /**
   * Ordered, reliable message channel (control/index messages, up to 256 MiB each). The transport keeps
   * a reference to `msg` until it is acknowledged: do not modify it after the call. Throws RangeError
   * above the size limit; messages sent after the connection went down are dropped.
   */
  sendMessage(msg: Uint8Array): void;
  /**
   * Reliable, unordered message channel for bulk data (block payloads, 1 B to 16 MiB). A lost packet
   * delays only the message it belongs to. Returns false when the send queue is above its high-water
   * mark: the caller should wait for the endpoint's 'drain' event for this connection before sending
   * more (the message itself is queued either way). Same ownership rule as `sendMessage`. A message in
   * a buffer from `allocBulk` may be released (`releaseBulk`) right after this call: the transport holds
   * the buffer itself until the message is acknowledged.
   */
  sendBulk(msg: Uint8Array): boolean;
  /** False once the connection is down (peerDown was emitted for it). */
  readonly open: boolean;
  stats(): ConnectionStats;
}

/**
 * Received messages may be views into a received datagram or into a reassembly buffer owned by the
 * receiver from then on; the transport never reuses them on its own. A 'bulk' message may instead be
 * given back with `releaseBulk(msg)` once the receiver has finished reading it (after the write that
 * consumed it completed, say): its buffer is then reused for a later message, which spares the cost of
 * touching fresh memory (1–10 ms per MiB on this VM). Releasing is optional; after releasing, no view
 * of the message may be used again.
 */
export interface EndpointEvents {
  peerUp: [conn: Connection];
  peerDown: [conn: Connection, reason: string];
  message: [conn: Connection, msg: Uint8Array];
  bulk: [conn: Connection, msg: Uint8Array];
  drain: [conn: Connection];
}
