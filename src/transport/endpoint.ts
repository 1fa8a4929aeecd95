/**
 * The endpoint: one UDP socket per host, multiplexing every peer. It accepts datagrams only from
 * configured peers, passes handshake packets to the Handshaker (handshake.ts) and DATA packets to the
 * connection state machines, and turns a completed handshake into the peer's connection. When
 * connections send is decided by the SendScheduler.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { type Clock, systemClock, systemRandom } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { DecodeError } from "../wire/errors.js";
import { DEVICE_ID_SIZE, MIN_PACKET_SIZE, vetForeignVersion } from "../wire/handshake.js";
import {
  decodeHeader,
  MAX_DATAGRAM,
  type PacketHeader,
  PacketType,
  PROTOCOL_VERSION,
} from "../wire/header.js";
import { primeAllocator } from "./allocator-priming.js";
import { type ConnectionHost, ConnectionImpl } from "./connection.js";
import { type ConnectionSetup, type HandshakeHost, Handshaker, toHex } from "./handshake.js";
import { LogLimiter } from "./log-limiter.js";
import { type PeerSlot, PeerTable } from "./peer-table.js";
import { SendScheduler } from "./scheduler.js";
import type { Connection, EndpointEvents, EndpointOptions, EndpointStats } from "./types.js";

/** Kernel cap on this machine (net.core.rmem_max); the default 208 KiB holds three 64 KiB datagrams. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Packets one connection may send per event-loop turn before yielding. */
const SEND_BATCH = 16;
const DEFAULT_IDLE_TIMEOUT_MS = 5000;
const DEFAULT_BULK_HIGH_WATER = 16 * 1024 * 1024;
const LOG_INTERVAL_MS = 10_000;

export class Endpoint extends EventEmitter<EndpointEvents> {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly peers: PeerTable;
  private readonly handshake: Handshaker;
  private readonly idleTimeoutMs: number;
  private readonly bulkHighWater: number;
  /** What the kernel granted (Linux doubles the request); peers are assumed to have the same. */
  private readonly receiveBufferBytes: number;
  /** Established and confirming connections by our connection id. */
  private readonly byCid = new Map<number, ConnectionImpl>();
  private readonly scheduler: SendScheduler<ConnectionImpl>;
  private readonly limiter = new LogLimiter();
  private retransmittedByClosed = 0;
  private closing: Promise<void> | null = null;
  private readonly counters: EndpointStats = {
    bytesSent: 0,
    bytesReceived: 0,
    packetsSent: 0,
    packetsReceived: 0,
    packetsRetransmitted: 0,
    malformed: 0,
    strangers: 0,
    ignored: 0,
  };

  static async open(opts: EndpointOptions): Promise<Endpoint> {
    validate(opts);
    primeAllocator();
    const socket = createSocket({
      type: "udp4",
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
      lookup: literalLookup,
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once("error", fail);
      socket.bind(opts.port, opts.bind, () => {
        socket.off("error", fail);
        resolve();
      });
    });
    const endpoint = new Endpoint(socket, opts);
    endpoint.start();
    return endpoint;
  }

  private constructor(
    private readonly socket: Socket,
    private readonly opts: EndpointOptions,
  ) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.peers = new PeerTable(opts.peers);
    this.handshake = new Handshaker(
      {
        clock: this.clock,
        random: opts.random ?? systemRandom,
        log: opts.log,
        security: opts.security,
        deviceId: Uint8Array.from(opts.deviceId),
        packetSize: opts.packetSize,
      },
      this.peers,
      this.handshakeHost,
    );
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.bulkHighWater = opts.bulkHighWaterMark ?? DEFAULT_BULK_HIGH_WATER;
    this.scheduler = new SendScheduler(this.clock, SEND_BATCH);
    this.receiveBufferBytes = socket.getRecvBufferSize();
  }

  private start(): void {
    this.socket.on("message", (msg, rinfo) => this.onDatagram(msg, rinfo));
    this.socket.on("error", (err) => {
      if (this.limiter.allow("socket-error", this.clock.now(), LOG_INTERVAL_MS)) {
        this.log.log("warn", "transport.socket-error", `socket error: ${err.message}`);
      }
    });
    this.handshake.start();
  }

  /** The local address the socket is bound to. */
  address(): { host: string; port: number } {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  stats(): EndpointStats {
    let retransmitted = this.retransmittedByClosed;
    for (const conn of this.byCid.values()) retransmitted += conn.stats().packetsRetransmitted;
    return { ...this.counters, packetsRetransmitted: retransmitted };
  }

  connections(): Connection[] {
    const out: Connection[] = [];
    for (const slot of this.peers.all()) if (slot.conn !== null) out.push(slot.conn);
    return out;
  }

  /** Sends CLOSE to every connected peer, emits peerDown for each, and closes the socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const now = this.clock.now();
      this.handshake.close();
      for (const slot of this.peers.all()) {
        slot.confirming?.shutdown(now, "endpoint closed", false);
        slot.conn?.shutdown(now, "shutdown", true);
      }
      this.scheduler.stop();
      await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    })();
    return this.closing;
  }

  // ---- receive path ----

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.packetsReceived++;
    this.counters.bytesReceived += msg.length;
    const slot = this.peers.lookup(rinfo.address, rinfo.port);
    if (slot === undefined) {
      this.onStranger(rinfo);
      return;
    }
    const header = decodeHeader(msg);
    if (header instanceof DecodeError) {
      this.onMalformed(slot, vetForeignVersion(msg, header));
      return;
    }
    const now = this.clock.now();
    switch (header.type) {
      case PacketType.Data:
        this.onData(slot, header, msg, now);
        return;
      case PacketType.Init:
        this.handshake.onInit(slot, msg, now);
        return;
      case PacketType.InitAck:
        this.handshake.onInitAck(slot, header, msg, now);
        return;
      case PacketType.Confirm:
        this.handshake.onConfirm(slot, header, msg, now);
        return;
      case PacketType.Close:
        this.handshake.onClosePacket(slot, msg, now);
        return;
    }
  }

  private onData(slot: PeerSlot, header: PacketHeader, msg: Uint8Array, now: number): void {
    const conn = this.byCid.get(header.connectionId);
    if (conn === undefined || conn.peer !== slot.key) {
      this.counters.ignored++;
      return;
    }
    const result = conn.receive(now, header, msg);
    if (result === "malformed") this.onMalformed(slot, null);
    else if (result === "duplicate") this.counters.ignored++;
    if (conn.open) this.scheduler.markDirty(conn);
  }

  private onStranger(rinfo: RemoteInfo): void {
    this.counters.strangers++;
    const now = this.clock.now();
    const address = `${rinfo.address}:${rinfo.port}`;
    if (
      this.limiter.allow(`stranger ${address}`, now, Number.POSITIVE_INFINITY) &&
      this.limiter.allow("stranger", now, 1000)
    ) {
      this.log.log("warn", "transport.stranger", `dropping datagrams from ${address}: not a configured peer`);
    }
  }

  private onMalformed(slot: PeerSlot, error: DecodeError | null): void {
    this.counters.malformed++;
    const now = this.clock.now();
    if (error?.kind === "unknown-version") {
      if (this.limiter.allow(`version ${slot.key}`, now, LOG_INTERVAL_MS)) {
        this.log.log(
          "warn",
          "transport.version",
          `peer ${slot.key} speaks protocol version ${error.version}, we speak ${PROTOCOL_VERSION}`,
        );
      }
      return;
    }
    if (this.limiter.allow(`malformed ${slot.key}`, now, LOG_INTERVAL_MS)) {
      const what =
        error === null ? "failed authentication or frame checks" : `${error.kind}: ${error.message}`;
      this.log.log("debug", "transport.malformed", `peer ${slot.key}: dropped datagram (${what})`);
    }
  }

  // ---- what the handshake calls back into ----

  private readonly handshakeHost: HandshakeHost = {
    send: (slot, datagram) => this.sendTo(slot, datagram),
    open: (slot, setup, now) => this.createConnection(slot, setup, now),
    up: (slot, conn, now) => this.install(slot, conn, now),
    ignored: () => {
      this.counters.ignored++;
    },
    malformed: (slot, error) => this.onMalformed(slot, error),
  };

  private createConnection(slot: PeerSlot, setup: ConnectionSetup, now: number): ConnectionImpl {
    const { role, peer, transcript } = setup;
    const conn = new ConnectionImpl(
      {
        peer: slot.key,
        host: slot.host,
        port: slot.port,
        deviceId: toHex(peer.deviceId),
        sessionId: toHex(peer.sessionId),
        role,
        localCid: setup.localCid,
        remoteCid: peer.connectionId,
        protection: this.opts.security.protect(role, transcript),
        packetSize: Math.min(this.opts.packetSize, peer.maxPacketSize),
        window: this.opts.window,
        receiveBufferBytes: this.receiveBufferBytes,
        initialRttMs: Math.max(0.05, setup.handshakeRttMs),
        idleTimeoutMs: this.idleTimeoutMs,
        bulkHighWaterMark: this.bulkHighWater,
        confirm: setup.confirm,
      },
      this.host,
      now,
    );
    this.byCid.set(setup.localCid, conn);
    // An initiator's connection repeats CONFIRM on its timer until the responder's first packet.
    if (conn.state === "confirming") this.scheduler.arm(conn);
    return conn;
  }

  /** Makes `conn` the peer's one connection, retiring whatever it replaces. */
  private install(slot: PeerSlot, conn: ConnectionImpl, now: number): void {
    const old = slot.conn;
    if (old !== null) {
      const reason = old.sessionId === conn.sessionId ? "replaced by a new connection" : "peer restarted";
      old.shutdown(now, reason, false);
    }
    if (slot.confirming !== null && slot.confirming !== conn)
      slot.confirming.shutdown(now, "superseded", false);
    slot.confirming = null;
    this.handshake.connected(slot);
    slot.conn = conn;
    // Debug: the layer above (the sync engine) announces the peer to the user; this line adds the role.
    this.log.log("debug", "transport.peer-up", `peer ${slot.key} up`, {
      device: conn.deviceId,
      role: conn.role,
    });
    this.emit("peerUp", conn);
    this.scheduler.markDirty(conn);
  }

  // ---- what connections call back into (not public API) ----

  private readonly host: ConnectionHost = {
    sendDatagram: (conn, parts) => {
      let size = 0;
      for (const part of parts) size += part.length;
      this.counters.packetsSent++;
      this.counters.bytesSent += size;
      this.socket.send(parts, conn.peerPort, conn.peerHost);
    },
    socketBusy: () => this.socket.getSendQueueCount() > 0,
    deliverMessage: (conn, msg) => this.emit("message", conn, msg),
    deliverBulk: (conn, msg) => this.emit("bulk", conn, msg),
    drain: (conn) => this.emit("drain", conn),
    wake: (conn) => this.scheduler.markDirty(conn),
    established: (conn) => {
      const slot = this.peers.byName(conn.peer);
      if (slot === undefined || slot.confirming !== conn) return;
      slot.confirming = null;
      this.install(slot, conn, this.clock.now());
    },
    closed: (conn, reason) => this.onClosed(conn, reason),
  };

  private onClosed(conn: ConnectionImpl, reason: string): void {
    this.retransmittedByClosed += conn.stats().packetsRetransmitted;
    this.byCid.delete(conn.localCid);
    this.scheduler.forget(conn);
    const slot = this.peers.byName(conn.peer);
    if (slot === undefined) return;
    if (slot.confirming === conn) slot.confirming = null;
    if (slot.conn === conn) {
      slot.conn = null;
      this.log.log("debug", "transport.peer-down", `peer ${slot.key} down: ${reason}`, {
        device: conn.deviceId,
      });
      this.emit("peerDown", conn, reason);
    }
    this.handshake.disconnected(slot, conn.localCid);
  }

  /** Sends a handshake or CLOSE datagram; connections send through `host`. */
  private sendTo(slot: PeerSlot, datagram: Uint8Array): void {
    this.counters.packetsSent++;
    this.counters.bytesSent += datagram.length;
    this.socket.send(datagram, slot.port, slot.host);
  }
}

/**
 * The `lookup` of a socket that only sends to IPv4 literals (peers are, checked by PeerTable). dgram
 * resolves every destination through `lookup`, and the default (dns.lookup) answers even a literal on
 * the next tick: each send would be deferred, cost a closure, and a send issued just before close()
 * would be lost.
 */
export function literalLookup(
  host: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, host, 4);
}

function validate(opts: EndpointOptions): void {
  if (opts.deviceId.length !== DEVICE_ID_SIZE)
    throw new RangeError(`deviceId must be ${DEVICE_ID_SIZE} bytes`);
  if (
    !Number.isInteger(opts.packetSize) ||
    opts.packetSize < MIN_PACKET_SIZE ||
    opts.packetSize > MAX_DATAGRAM
  ) {
    throw new RangeError(`packetSize must be in [${MIN_PACKET_SIZE}, ${MAX_DATAGRAM}]`);
  }
  if (!Number.isInteger(opts.window) || opts.window < 4)
    throw new RangeError("window must be at least 4 packets");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new RangeError("bad port");
}
