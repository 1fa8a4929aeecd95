/**
 * The configured peers and the per-peer handshake state. A datagram is served only if its source
 * address is exactly a configured `ip:port`; anything else is a stranger and never decoded.
 */
import { isIPv4 } from "node:net";
import type { TimerHandle } from "../util/clock.js";
import type { HandshakeBody } from "../wire/handshake.js";
import type { ConnectionImpl } from "./connection.js";
import type { PeerAddress } from "./types.js";

/** Our outstanding INIT: repeated with backoff until an INIT_ACK names its connection id. */
export interface DialState {
  cid: number;
  body: HandshakeBody;
  datagram: Uint8Array;
  sentAt: number;
}

/** Our INIT_ACK to the peer's INIT, kept until its CONFIRM arrives (or another INIT replaces it). */
export interface ResponderState {
  cid: number;
  init: HandshakeBody;
  transcript: Uint8Array;
  datagram: Uint8Array;
  sentAt: number;
}

export class PeerSlot {
  /** `ip:port`, the peer's name in logs and in Connection.peer. */
  readonly key: string;
  /** Established connection, at most one. */
  conn: ConnectionImpl | null = null;
  /** Our dial that got an INIT_ACK and awaits the responder's first packet. */
  confirming: ConnectionImpl | null = null;
  dial: DialState | null = null;
  responder: ResponderState | null = null;
  dialAttempts = 0;
  dialTimer: TimerHandle | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    this.key = `${host}:${port}`;
  }
}

export class PeerTable {
  /** Port first: `rinfo.port` is a number, so the hot-path lookup builds no string. */
  private readonly byPort = new Map<number, Map<string, PeerSlot>>();
  private readonly byKey = new Map<string, PeerSlot>();

  constructor(peers: readonly PeerAddress[]) {
    for (const { host, port } of peers) {
      if (!isIPv4(host)) throw new RangeError(`peer host must be an IPv4 address, got "${host}"`);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad peer port ${port}`);
      const slot = new PeerSlot(host, port);
      if (this.byKey.has(slot.key)) continue;
      this.byKey.set(slot.key, slot);
      let hosts = this.byPort.get(port);
      if (hosts === undefined) {
        hosts = new Map();
        this.byPort.set(port, hosts);
      }
      hosts.set(host, slot);
    }
  }

  lookup(host: string, port: number): PeerSlot | undefined {
    return this.byPort.get(port)?.get(host);
  }

  byName(key: string): PeerSlot | undefined {
    return this.byKey.get(key);
  }

  all(): IterableIterator<PeerSlot> {
    return this.byKey.values();
  }
}
