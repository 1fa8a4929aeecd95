/**
 * The endpoint: one UDP socket per host, multiplexing every peer. It dials each configured peer (INIT,
 * repeated with backoff), answers only configured peers, runs the handshake, and hands datagrams to the
 * connection state machines; when they send is decided by the SendScheduler.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { type Clock, type RandomSource, systemClock, systemRandom } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { DecodeError } from "../wire/errors.js";
import {
  DEVICE_ID_SIZE,
  decodeClosePacket,
  decodeConfirm,
  decodeHandshake,
  encodeClosePacket,
  encodeConfirm,
  encodeHandshake,
  type HandshakeBody,
  MIN_PACKET_SIZE,
  NONCE_SIZE,
  SESSION_ID_SIZE,
} from "../wire/handshake.js";
import {
  decodeHeader,
  MAX_DATAGRAM,
  type PacketHeader,
  PacketType,
  PROTOCOL_VERSION,
} from "../wire/header.js";
import { type ConnectionHost, ConnectionImpl } from "./connection.js";
import { compareParticipants, toHex, transcriptOf } from "./handshake.js";
import { LogLimiter } from "./log-limiter.js";
import { type PeerSlot, PeerTable } from "./peer-table.js";
import { SendScheduler } from "./scheduler.js";
import type {
  Connection,
  EndpointEvents,
  EndpointOptions,
  EndpointStats,
  HandshakeRole,
  SecurityProvider,
} from "./types.js";

/** Kernel cap on this machine (net.core.rmem_max); the default 208 KiB holds three 64 KiB datagrams. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Packets one connection may send per event-loop turn before yielding. */
const SEND_BATCH = 16;
const DEFAULT_IDLE_TIMEOUT_MS = 5000;
const DEFAULT_BULK_HIGH_WATER = 16 * 1024 * 1024;
const DIAL_BACKOFF_MIN_MS = 100;
const DIAL_BACKOFF_MAX_MS = 1000;
const REDIAL_DELAY_MS = 100;
/** No capabilities are defined in protocol version 1. */
const CAPABILITIES = 0;
const EMPTY = new Uint8Array(0);
const LOG_INTERVAL_MS = 10_000;

export class Endpoint extends EventEmitter<EndpointEvents> {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly log: Logger;
  private readonly security: SecurityProvider;
  private readonly deviceId: Uint8Array;
  private readonly sessionId = new Uint8Array(SESSION_ID_SIZE);
  private readonly peers: PeerTable;
  private readonly idleTimeoutMs: number;
  private readonly bulkHighWater: number;
  /** What the kernel granted (Linux doubles the request); peers are assumed to have the same. */
  private readonly receiveBufferBytes: number;
  /** Established and confirming connections by our connection id. */
  private readonly byCid = new Map<number, ConnectionImpl>();
  /** Every connection id in use (connections, dials, pending responses), to keep new ones unique. */
  private readonly cids = new Set<number>();
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
    this.random = opts.random ?? systemRandom;
    this.log = opts.log;
    this.security = opts.security;
    this.deviceId = Uint8Array.from(opts.deviceId);
    this.sessionId.set(this.random(SESSION_ID_SIZE));
    this.peers = new PeerTable(opts.peers);
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
    for (const slot of this.peers.all()) this.startDial(slot);
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
      for (const slot of this.peers.all()) {
        this.cancelDial(slot);
        this.dropResponder(slot);
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
      this.onMalformed(slot, header);
      return;
    }
    const now = this.clock.now();
    switch (header.type) {
      case PacketType.Data:
        this.onData(slot, header, msg, now);
        return;
      case PacketType.Init:
        this.onInit(slot, msg, now);
        return;
      case PacketType.InitAck:
        this.onInitAck(slot, header, msg, now);
        return;
      case PacketType.Confirm:
        this.onConfirm(slot, header, msg, now);
        return;
      case PacketType.Close:
        this.onClosePacket(slot, msg, now);
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

  // ---- handshake ----

  private handshakeBody(cid: number, proof: Uint8Array): HandshakeBody {
    return {
      deviceId: this.deviceId,
      sessionId: this.sessionId,
      nonce: this.random(NONCE_SIZE),
      connectionId: cid,
      capabilities: CAPABILITIES,
      encrypted: this.security.encrypted,
      maxPacketSize: this.opts.packetSize,
      proof,
    };
  }

  private startDial(slot: PeerSlot): void {
    if (this.closing !== null || slot.conn !== null || slot.confirming !== null) return;
    if (slot.dial === null) {
      const cid = this.allocateCid();
      const body = this.handshakeBody(cid, EMPTY);
      slot.dial = { cid, body, datagram: encodeHandshake(PacketType.Init, 0, 0, body), sentAt: 0 };
    }
    slot.dial.sentAt = this.clock.now();
    this.sendTo(slot, slot.dial.datagram);
    const base = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS * 2 ** slot.dialAttempts++);
    this.scheduleDial(slot, base * (1 + this.random(1)[0]! / 1024));
  }

  private scheduleDial(slot: PeerSlot, delayMs: number): void {
    slot.dialTimer?.cancel();
    slot.dialTimer = this.clock.setTimeout(() => {
      slot.dialTimer = null;
      this.startDial(slot);
    }, delayMs);
  }

  private cancelDial(slot: PeerSlot): void {
    slot.dialTimer?.cancel();
    slot.dialTimer = null;
    if (slot.dial !== null) this.cids.delete(slot.dial.cid);
    slot.dial = null;
    slot.dialAttempts = 0;
  }

  /**
   * We answer the peer's INIT instead of dialing: our INIT is forgotten, but if no connection results
   * (the peer stops dialing, or its handshake is refused) we dial again once the backoff runs out. Each
   * further INIT from the peer postpones that.
   */
  private yieldDial(slot: PeerSlot): void {
    if (slot.dial !== null) this.cids.delete(slot.dial.cid);
    slot.dial = null;
    if (slot.conn === null) this.scheduleDial(slot, DIAL_BACKOFF_MAX_MS);
  }

  private dropResponder(slot: PeerSlot): void {
    if (slot.responder !== null) this.cids.delete(slot.responder.cid);
    slot.responder = null;
  }

  /** Common checks on a peer's INIT or INIT_ACK body; false means refuse. */
  private acceptableHello(slot: PeerSlot, body: HandshakeBody, now: number): boolean {
    if (body.encrypted !== this.security.encrypted) {
      const ours = this.security.encrypted ? "we use a key" : "we have no key";
      const theirs = body.encrypted ? "the peer uses one" : "the peer has none";
      this.refuse(slot, body.connectionId, `encryption mismatch (${ours}, ${theirs})`, now);
      return false;
    }
    if (compareParticipants(this.deviceId, this.sessionId, body.deviceId, body.sessionId) === 0) {
      this.refuse(slot, body.connectionId, "it is this process itself", now);
      return false;
    }
    return true;
  }

  private onInit(slot: PeerSlot, msg: Uint8Array, now: number): void {
    const body = decodeHandshake(msg);
    if (body instanceof DecodeError) {
      this.onMalformed(slot, body);
      return;
    }
    if (!this.acceptableHello(slot, body, now)) return;
    const order = compareParticipants(this.deviceId, this.sessionId, body.deviceId, body.sessionId);
    // Simultaneous open: the lower participant stays initiator; the higher one yields and answers.
    if (slot.dial !== null && order < 0) {
      this.counters.ignored++;
      return;
    }
    // The peer is already answering our dial: this INIT crossed ours and is stale.
    if (slot.confirming !== null && slot.confirming.sessionId === toHex(body.sessionId)) {
      this.counters.ignored++;
      return;
    }
    this.yieldDial(slot);
    const pending = slot.responder;
    if (pending !== null && sameHello(pending.init, body)) {
      this.sendTo(slot, pending.datagram);
      return;
    }
    this.dropResponder(slot);
    const cid = this.allocateCid();
    const reply = this.handshakeBody(cid, EMPTY);
    const transcript = transcriptOf(body, reply);
    reply.proof = this.security.prove("responder", transcript);
    const datagram = encodeHandshake(PacketType.InitAck, body.connectionId, 0, reply);
    slot.responder = { cid, init: body, transcript, datagram, sentAt: now };
    this.sendTo(slot, datagram);
  }

  private onInitAck(slot: PeerSlot, header: PacketHeader, msg: Uint8Array, now: number): void {
    const dial = slot.dial;
    if (dial === null || dial.cid !== header.connectionId) {
      this.counters.ignored++;
      return;
    }
    const body = decodeHandshake(msg);
    if (body instanceof DecodeError) {
      this.onMalformed(slot, body);
      return;
    }
    if (!this.acceptableHello(slot, body, now)) return;
    const transcript = transcriptOf(dial.body, body);
    if (!this.security.verify("responder", transcript, body.proof)) {
      this.refuse(slot, body.connectionId, "wrong key", now);
      return;
    }
    const confirm = encodeConfirm(body.connectionId, 0, this.security.prove("initiator", transcript));
    slot.dial = null;
    slot.dialTimer?.cancel();
    slot.dialTimer = null;
    slot.dialAttempts = 0;
    const conn = this.createConnection(
      slot,
      "initiator",
      dial.cid,
      body,
      transcript,
      now - dial.sentAt,
      confirm,
      now,
    );
    slot.confirming?.shutdown(now, "superseded", false);
    slot.confirming = conn;
    this.sendTo(slot, confirm);
    this.scheduler.arm(conn);
  }

  private onConfirm(slot: PeerSlot, header: PacketHeader, msg: Uint8Array, now: number): void {
    const pending = slot.responder;
    if (pending === null || pending.cid !== header.connectionId) {
      this.counters.ignored++;
      return;
    }
    const proof = decodeConfirm(msg);
    if (proof instanceof DecodeError) {
      this.onMalformed(slot, proof);
      return;
    }
    if (!this.security.verify("initiator", pending.transcript, proof)) {
      this.dropResponder(slot);
      this.refuse(slot, pending.init.connectionId, "wrong key", now);
      return;
    }
    slot.responder = null;
    const conn = this.createConnection(
      slot,
      "responder",
      pending.cid,
      pending.init,
      pending.transcript,
      now - pending.sentAt,
      null,
      now,
    );
    this.install(slot, conn, now);
  }

  private onClosePacket(slot: PeerSlot, msg: Uint8Array, now: number): void {
    const reason = decodeClosePacket(msg);
    if (reason instanceof DecodeError) {
      this.onMalformed(slot, reason);
      return;
    }
    // Unauthenticated: it is logged, but it cannot tear down a connection.
    if (this.limiter.allow(`refused-by ${slot.key}`, now, LOG_INTERVAL_MS)) {
      this.log.log("warn", "transport.refused", `peer ${slot.key} refused the handshake: ${reason}`);
    }
  }

  /** Logs why we refuse a peer's handshake and tells it (rate-limited, both ways). */
  private refuse(slot: PeerSlot, peerCid: number, reason: string, now: number): void {
    if (!this.limiter.allow(`refuse ${slot.key} ${reason}`, now, LOG_INTERVAL_MS)) return;
    this.log.log("error", "transport.refused", `peer ${slot.key}: ${reason}`);
    this.sendTo(slot, encodeClosePacket(peerCid, reason));
  }

  private createConnection(
    slot: PeerSlot,
    role: HandshakeRole,
    localCid: number,
    peer: HandshakeBody,
    transcript: Uint8Array,
    handshakeRttMs: number,
    confirm: Uint8Array | null,
    now: number,
  ): ConnectionImpl {
    const conn = new ConnectionImpl(
      {
        peer: slot.key,
        host: slot.host,
        port: slot.port,
        deviceId: toHex(peer.deviceId),
        sessionId: toHex(peer.sessionId),
        role,
        localCid,
        remoteCid: peer.connectionId,
        protection: this.security.protect(role, transcript),
        packetSize: Math.min(this.opts.packetSize, peer.maxPacketSize),
        window: this.opts.window,
        receiveBufferBytes: this.receiveBufferBytes,
        initialRttMs: Math.max(0.05, handshakeRttMs),
        idleTimeoutMs: this.idleTimeoutMs,
        bulkHighWaterMark: this.bulkHighWater,
        confirm,
      },
      this.host,
      now,
    );
    this.byCid.set(localCid, conn);
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
    this.cancelDial(slot);
    slot.conn = conn;
    this.log.log("info", "transport.peer-up", `peer ${slot.key} up`, {
      device: conn.deviceId,
      role: conn.role,
    });
    this.emit("peerUp", conn);
    this.scheduler.markDirty(conn);
  }

  private allocateCid(): number {
    for (;;) {
      const b = this.random(4);
      const cid = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (cid !== 0 && !this.cids.has(cid)) {
        this.cids.add(cid);
        return cid;
      }
    }
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
    this.cids.delete(conn.localCid);
    this.scheduler.forget(conn);
    const slot = this.peers.byName(conn.peer);
    if (slot === undefined) return;
    if (slot.confirming === conn) slot.confirming = null;
    if (slot.conn === conn) {
      slot.conn = null;
      this.log.log("info", "transport.peer-down", `peer ${slot.key} down: ${reason}`, {
        device: conn.deviceId,
      });
      this.emit("peerDown", conn, reason);
    }
    if (this.closing === null && slot.conn === null && slot.confirming === null && slot.dialTimer === null) {
      this.scheduleDial(slot, REDIAL_DELAY_MS);
    }
  }

  /** Sends a handshake or CLOSE datagram; connections send through `host`. */
  private sendTo(slot: PeerSlot, datagram: Uint8Array): void {
    this.counters.packetsSent++;
    this.counters.bytesSent += datagram.length;
    this.socket.send(datagram, slot.port, slot.host);
  }
}

/**
 * Peers are IPv4 literals (checked by PeerTable). dgram resolves every destination through `lookup`, and
 * the default (dns.lookup) answers even a literal on the next tick: each send would be deferred, cost a
 * closure, and a send issued just before close() would be lost.
 */
function literalLookup(
  host: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, host, 4);
}

function sameHello(a: HandshakeBody, b: HandshakeBody): boolean {
  return (
    a.connectionId === b.connectionId &&
    Buffer.compare(a.nonce, b.nonce) === 0 &&
    Buffer.compare(a.sessionId, b.sessionId) === 0
  );
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
