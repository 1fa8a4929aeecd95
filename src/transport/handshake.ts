/**
 * The three-way handshake with every configured peer (docs/PROTOCOL.md, "Handshake"):
 *
 *   initiator                                responder
 *   INIT  (dcid 0; our cid, nonce, ...)  ──▶
 *                                        ◀── INIT_ACK (dcid = initiator cid; its cid, nonce, proof)
 *   CONFIRM (dcid = responder cid, proof) ──▶ responder is up; sends a PING in DATA
 *   first authenticated DATA received      ◀── initiator is up
 *
 * The Handshaker dials (INIT repeated with backoff), answers INITs, checks proofs, resolves
 * simultaneous opens, refuses mismatched peers with a CLOSE packet, and hands each completed exchange
 * to its host as a connection. It owns the connection-id space. It touches no socket and reads time
 * only from its clock, so it is tested under a fake clock; the endpoint feeds it the datagrams.
 *
 * The transcript both proofs cover is a label, then the INIT fields, then the INIT_ACK fields (each
 * without its proof): both nonces, connection ids, device and session ids and the packet sizes, so a
 * proof cannot be replayed into another connection and a tampered field breaks the proof.
 */
import type { Clock, RandomSource } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { DecodeError } from "../wire/errors.js";
import {
  decodeClosePacket,
  decodeConfirm,
  decodeHandshake,
  encodeClosePacket,
  encodeConfirm,
  encodeHandshake,
  encodeHandshakeFields,
  type HandshakeBody,
  NONCE_SIZE,
  SESSION_ID_SIZE,
} from "../wire/handshake.js";
import { type PacketHeader, PacketType } from "../wire/header.js";
import type { ConnectionImpl } from "./connection.js";
import { LogLimiter } from "./log-limiter.js";
import type { PeerSlot, PeerTable } from "./peer-table.js";
import type { HandshakeRole, SecurityProvider } from "./types.js";

export const DIAL_BACKOFF_MIN_MS = 100;
export const DIAL_BACKOFF_MAX_MS = 1000;
/** Delay before dialing a peer whose connection just ended. */
export const REDIAL_DELAY_MS = 100;
/** No capabilities are defined in protocol version 1. */
const CAPABILITIES = 0;
const EMPTY = new Uint8Array(0);
const LOG_INTERVAL_MS = 10_000;
const TRANSCRIPT_LABEL = new TextEncoder().encode("LEFT handshake v1");
/** The reason a proof that does not verify is refused with, as the CLOSE packet carries it. */
const WRONG_KEY = "wrong key";

export interface HandshakeOptions {
  clock: Clock;
  random: RandomSource;
  log: Logger;
  security: SecurityProvider;
  /** Our device id (16 bytes). */
  deviceId: Uint8Array;
  /** The packet size we accept, announced in INIT and INIT_ACK. */
  packetSize: number;
}

/** What a completed exchange tells the host about the connection to create. */
export interface ConnectionSetup {
  role: HandshakeRole;
  localCid: number;
  /** The peer's INIT (we respond) or INIT_ACK (we initiate). */
  peer: HandshakeBody;
  transcript: Uint8Array;
  /** From our INIT or INIT_ACK to the answer that completed the exchange. */
  handshakeRttMs: number;
  /** Initiator only: the CONFIRM datagram, to repeat until the responder's first packet arrives. */
  confirm: Uint8Array | null;
}

export interface HandshakeHost {
  /** Sends a handshake or CLOSE datagram to the peer. */
  send(slot: PeerSlot, datagram: Uint8Array): void;
  /**
   * Creates the connection an exchange leads to, reachable by its local connection id. The initiator's
   * starts out confirming (the handshaker keeps it as `slot.confirming`); the responder's is
   * established and is passed to `up` at once.
   */
  open(slot: PeerSlot, setup: ConnectionSetup, now: number): ConnectionImpl;
  /** A responder's connection is authenticated: make it the peer's connection. */
  up(slot: PeerSlot, conn: ConnectionImpl, now: number): void;
  /** A well-formed handshake datagram that matched no state of ours (stale, crossed, or ignored). */
  ignored(): void;
  malformed(slot: PeerSlot, error: DecodeError): void;
}

export class Handshaker {
  /** Random per process: a new value tells peers that we restarted. */
  readonly sessionId: Uint8Array;
  /** Every connection id in use (connections, dials, pending answers), to keep new ones unique. */
  private readonly cids = new Set<number>();
  private readonly limiter = new LogLimiter();
  private closed = false;

  constructor(
    private readonly opts: HandshakeOptions,
    private readonly peers: PeerTable,
    private readonly host: HandshakeHost,
  ) {
    this.sessionId = Uint8Array.from(opts.random(SESSION_ID_SIZE));
  }

  /** Dials every configured peer. */
  start(): void {
    for (const slot of this.peers.all()) this.dial(slot);
  }

  /** Stops dialing and answering; the host closes the connections. */
  close(): void {
    this.closed = true;
    for (const slot of this.peers.all()) {
      this.cancelDial(slot);
      this.dropResponder(slot);
    }
  }

  /** `conn` became the peer's connection: our dial for it, if any, is over. */
  connected(slot: PeerSlot): void {
    this.cancelDial(slot);
  }

  /** A connection with local id `cid` ended. If the peer is left with none, dial it again soon. */
  disconnected(slot: PeerSlot, cid: number): void {
    this.cids.delete(cid);
    if (!this.closed && slot.conn === null && slot.confirming === null && slot.dialTimer === null) {
      this.scheduleDial(slot, REDIAL_DELAY_MS);
    }
  }

  onInit(slot: PeerSlot, datagram: Uint8Array, now: number): void {
    const body = this.decoded(slot, decodeHandshake(datagram));
    if (body === null || !this.acceptable(slot, body, now)) return;
    const order = compareParticipants(this.opts.deviceId, this.sessionId, body.deviceId, body.sessionId);
    // Simultaneous open: the lower participant stays initiator; the higher one yields and answers.
    if (slot.dial !== null && order < 0) {
      this.host.ignored();
      return;
    }
    // The peer is already answering our dial: this INIT crossed ours and is stale.
    if (slot.confirming !== null && slot.confirming.sessionId === toHex(body.sessionId)) {
      this.host.ignored();
      return;
    }
    this.yieldDial(slot);
    const pending = slot.responder;
    if (pending !== null && sameHello(pending.init, body)) {
      this.host.send(slot, pending.datagram);
      return;
    }
    this.dropResponder(slot);
    const cid = this.allocateCid();
    const reply = this.hello(cid);
    const transcript = transcriptOf(body, reply);
    reply.proof = this.opts.security.prove("responder", transcript);
    const answer = encodeHandshake(PacketType.InitAck, body.connectionId, 0, reply);
    slot.responder = { cid, init: body, transcript, datagram: answer, sentAt: now };
    this.host.send(slot, answer);
  }

  onInitAck(slot: PeerSlot, header: PacketHeader, datagram: Uint8Array, now: number): void {
    const dial = slot.dial;
    if (dial === null || dial.cid !== header.connectionId) {
      this.host.ignored();
      return;
    }
    const body = this.decoded(slot, decodeHandshake(datagram));
    if (body === null || !this.acceptable(slot, body, now)) return;
    const transcript = transcriptOf(dial.body, body);
    if (!this.opts.security.verify("responder", transcript, body.proof)) {
      this.refuse(slot, body.connectionId, WRONG_KEY, now);
      return;
    }
    const confirm = encodeConfirm(body.connectionId, 0, this.opts.security.prove("initiator", transcript));
    // The dial succeeded: its connection id now belongs to the connection.
    slot.dial = null;
    this.stopDialTimer(slot);
    const conn = this.host.open(
      slot,
      {
        role: "initiator",
        localCid: dial.cid,
        peer: body,
        transcript,
        handshakeRttMs: now - dial.sentAt,
        confirm,
      },
      now,
    );
    const superseded = slot.confirming;
    slot.confirming = conn;
    superseded?.shutdown(now, "superseded", false);
    this.host.send(slot, confirm);
  }

  onConfirm(slot: PeerSlot, header: PacketHeader, datagram: Uint8Array, now: number): void {
    const pending = slot.responder;
    if (pending === null || pending.cid !== header.connectionId) {
      this.host.ignored();
      return;
    }
    const proof = this.decoded(slot, decodeConfirm(datagram));
    if (proof === null) return;
    if (!this.opts.security.verify("initiator", pending.transcript, proof)) {
      this.dropResponder(slot);
      this.refuse(slot, pending.init.connectionId, WRONG_KEY, now);
      return;
    }
    slot.responder = null;
    const conn = this.host.open(
      slot,
      {
        role: "responder",
        localCid: pending.cid,
        peer: pending.init,
        transcript: pending.transcript,
        handshakeRttMs: now - pending.sentAt,
        confirm: null,
      },
      now,
    );
    this.host.up(slot, conn, now);
  }

  /**
   * A peer refused our handshake. Unauthenticated: it is logged (at the refusing side's level, as the
   * same problem), but it changes nothing.
   */
  onClosePacket(slot: PeerSlot, datagram: Uint8Array, now: number): void {
    const reason = this.decoded(slot, decodeClosePacket(datagram));
    if (reason === null) return;
    if (this.limiter.allow(`refused-by ${slot.key}`, now, LOG_INTERVAL_MS)) {
      this.opts.log.log(
        "error",
        "transport.refused",
        `peer ${slot.key} refused the handshake: ${explained(reason)}`,
      );
    }
  }

  /** A decoded datagram's value, or null once a decoding error is reported as a malformed datagram. */
  private decoded<T>(slot: PeerSlot, value: T | DecodeError): T | null {
    if (!(value instanceof DecodeError)) return value;
    this.host.malformed(slot, value);
    return null;
  }

  private hello(cid: number): HandshakeBody {
    return {
      deviceId: this.opts.deviceId,
      sessionId: this.sessionId,
      nonce: this.opts.random(NONCE_SIZE),
      connectionId: cid,
      capabilities: CAPABILITIES,
      encrypted: this.opts.security.encrypted,
      maxPacketSize: this.opts.packetSize,
      proof: EMPTY,
    };
  }

  /** Sends our INIT (the same one each time, so that a late INIT_ACK to an earlier copy still counts). */
  private dial(slot: PeerSlot): void {
    if (this.closed || slot.conn !== null || slot.confirming !== null) return;
    if (slot.dial === null) {
      const cid = this.allocateCid();
      const body = this.hello(cid);
      slot.dial = { cid, body, datagram: encodeHandshake(PacketType.Init, 0, 0, body), sentAt: 0 };
    }
    slot.dial.sentAt = this.opts.clock.now();
    this.host.send(slot, slot.dial.datagram);
    const base = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS * 2 ** slot.dialAttempts++);
    this.scheduleDial(slot, base * (1 + this.opts.random(1)[0]! / 1024));
  }

  private scheduleDial(slot: PeerSlot, delayMs: number): void {
    slot.dialTimer?.cancel();
    slot.dialTimer = this.opts.clock.setTimeout(() => {
      slot.dialTimer = null;
      this.dial(slot);
    }, delayMs);
  }

  private stopDialTimer(slot: PeerSlot): void {
    slot.dialTimer?.cancel();
    slot.dialTimer = null;
    slot.dialAttempts = 0;
  }

  private cancelDial(slot: PeerSlot): void {
    this.stopDialTimer(slot);
    if (slot.dial !== null) this.cids.delete(slot.dial.cid);
    slot.dial = null;
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

  /** Common checks on a peer's INIT or INIT_ACK body; false means refused. */
  private acceptable(slot: PeerSlot, body: HandshakeBody, now: number): boolean {
    const { security, deviceId } = this.opts;
    if (body.encrypted !== security.encrypted) {
      const ours = security.encrypted ? "we use a key" : "we have no key";
      const theirs = body.encrypted ? "the peer uses one" : "the peer has none";
      this.refuse(slot, body.connectionId, `encryption mismatch (${ours}, ${theirs})`, now);
      return false;
    }
    if (compareParticipants(deviceId, this.sessionId, body.deviceId, body.sessionId) === 0) {
      this.refuse(slot, body.connectionId, "it is this process itself", now);
      return false;
    }
    return true;
  }

  /** Logs why we refuse a peer's handshake and tells it (rate-limited, both ways). */
  private refuse(slot: PeerSlot, peerCid: number, reason: string, now: number): void {
    if (!this.limiter.allow(`refuse ${slot.key} ${reason}`, now, LOG_INTERVAL_MS)) return;
    this.opts.log.log("error", "transport.refused", `peer ${slot.key}: ${explained(reason)}`);
    this.host.send(slot, encodeClosePacket(peerCid, reason));
  }

  private allocateCid(): number {
    for (;;) {
      const b = this.opts.random(4);
      const cid = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (cid !== 0 && !this.cids.has(cid)) {
        this.cids.add(cid);
        return cid;
      }
    }
  }
}

/**
 * A refusal's reason as both sides log it: the side that checked the proof and the side told by its
 * CLOSE then say the same about a wrong key, so either log alone tells the user what to fix.
 */
function explained(reason: string): string {
  return reason === WRONG_KEY ? `${WRONG_KEY} (the peer's key differs from ours)` : reason;
}

export function transcriptOf(init: HandshakeBody, initAck: HandshakeBody): Uint8Array {
  const a = encodeHandshakeFields(init);
  const b = encodeHandshakeFields(initAck);
  const out = new Uint8Array(TRANSCRIPT_LABEL.length + a.length + b.length);
  out.set(TRANSCRIPT_LABEL, 0);
  out.set(a, TRANSCRIPT_LABEL.length);
  out.set(b, TRANSCRIPT_LABEL.length + a.length);
  return out;
}

/**
 * Orders two handshake participants by device id, then session id. When both sides dial each other at
 * once, the lower one stays initiator and ignores the other's INIT, the higher one abandons its own dial
 * and answers: exactly one connection results. 0 means the same process (we dialed ourselves).
 */
export function compareParticipants(
  ourDevice: Uint8Array,
  ourSession: Uint8Array,
  theirDevice: Uint8Array,
  theirSession: Uint8Array,
): number {
  return compareBytes(ourDevice, theirDevice) || compareBytes(ourSession, theirSession);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

function sameHello(a: HandshakeBody, b: HandshakeBody): boolean {
  return (
    a.connectionId === b.connectionId &&
    Buffer.compare(a.nonce, b.nonce) === 0 &&
    Buffer.compare(a.sessionId, b.sessionId) === 0
  );
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
