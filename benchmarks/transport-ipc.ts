/** What the transport benchmark's orchestrator and its peer processes say to each other over IPC. */
import type { ConnectionStats, EndpointStats, PeerAddress } from "../src/transport/types.js";

export type PeerRole = "udp-send" | "udp-recv" | "tcp-send" | "tcp-recv";

/** Passed to a peer process as its single JSON argument. */
export interface PeerConfig {
  role: PeerRole;
  bind: PeerAddress;
  peer: PeerAddress;
  size: number;
  /** UDP only. */
  window: number;
  packetSize: number;
  /** UDP only: the 32-byte master key in hex, both ends the same; null for the plaintext checksum. */
  masterKey: string | null;
}

export type ToPeer = { type: "go" } | { type: "finish" };

export type FromPeer =
  /** UDP: the connection is up; TCP: listening (receiver) or connected (sender). */
  | { type: "up" }
  /** Everything is handed to the transport (UDP: queued; TCP: written). */
  | { type: "sent"; startedAt: number; digest: string }
  /** Receiver: the whole stream has arrived (sent at once, before hashing, to stop the clock). */
  | { type: "received"; endedAt: number; bytes: number; duplicates: number; malformed: number }
  /**
   * Reply to "finish": the receiver's digest of what it got (null from senders), the process's CPU time
   * since "up" (user + system), and the transport's counters (UDP only).
   */
  | {
      type: "done";
      digest: string | null;
      cpuMs: number;
      endpoint: EndpointStats | null;
      connection: ConnectionStats | null;
    }
  | { type: "error"; message: string };
