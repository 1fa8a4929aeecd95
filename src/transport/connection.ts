/**
 * One connection's reliable-transport state machine, free of sockets and timers: the endpoint feeds it
 * authenticated datagrams (`receive`), asks it for packets (`transmit`), and calls `onTimer` at
 * `nextDeadline()`. Everything time-dependent reads the `now` it is given, so the whole machine runs
 * under a fake clock in unit tests.
 */
import { DecodeError } from "../wire/errors.js";
import {
  type AckFrame,
  decodeFrames,
  type Frame,
  FrameType,
  MAX_BULK_MESSAGE,
  writeAckFrame,
  writeBulkHeader,
  writeFrame,
  writeStreamHeader,
} from "../wire/frames.js";
import { HEADER_SIZE, type PacketHeader, PacketType, writeHeader } from "../wire/header.js";
import { AckTracker } from "./ack-tracker.js";
import { BulkReceiver } from "./bulk-receiver.js";
import { type BulkOutbound, type BulkPick, BulkSender } from "./bulk-sender.js";
import { CongestionController } from "./congestion.js";
import { DatagramRing } from "./datagram-ring.js";
import { DeliveryRateSampler } from "./delivery-rate.js";
import { LossDetector, type LossListener } from "./loss-detector.js";
import { Pacer } from "./pacer.js";
import { receiveWindowPackets } from "./receive-budget.js";
import { defaultRttConfig, RttEstimator } from "./rtt.js";
import { SentFrame, SentPacket } from "./sent-packet.js";
import { StreamReceiver } from "./stream-receiver.js";
import { type StreamPick, StreamSender } from "./stream-sender.js";
import type { Connection, ConnectionStats, HandshakeRole, PacketProtection } from "./types.js";

/** How long a receiver may hold an ACK for a lone in-order packet. */
export const MAX_ACK_DELAY_MS = 1;
/** Below this much room a data frame is not worth its header. */
const MIN_DATA_ROOM = 64;
/** Floor of the congestion window, and of the receive-buffer cap on it. */
const MIN_CWND_PACKETS = 4;
/** Probe packets sent when a probe timeout fires (RFC 9002 §6.2.4). */
const PROBES_PER_TIMEOUT = 2;
const PACING_BURST_MS = 2;
/**
 * Slack added to the minimum RTT when sizing the congestion window. Between a packet's arrival and its
 * ACK lies the rest of the receiver's event-loop turn (up to 32 datagrams are read per turn, ~1 ms at
 * 1 GB/s), the ACK delay, and our own turn before we read the ACK: on loopback, where the path RTT is
 * ~0.1 ms, that is most of the round trip. Measured on loopback: with 2 ms the sender spent much of its
 * time window-limited; 4–5 ms removed that, and more only deepened the receiver's queue.
 */
const ACK_ALLOWANCE_MS = 4;

/** What a connection needs from its endpoint. */
export interface ConnectionHost {
  /** Sends one datagram made of `parts`; the parts may be reused once the call returns. */
  sendDatagram(conn: ConnectionImpl, parts: readonly Uint8Array[]): void;
  /**
   * True while the socket holds datagrams it could not send at once (its kernel buffer was full): they
   * still refer to our buffers, so no new packet may be built until they are gone.
   */
  socketBusy(): boolean;
  deliverMessage(conn: ConnectionImpl, msg: Uint8Array): void;
  deliverBulk(conn: ConnectionImpl, msg: Uint8Array): void;
  drain(conn: ConnectionImpl): void;
  /** The connection has something to send: schedule a flush. */
  wake(conn: ConnectionImpl): void;
  /** The initiator's first authenticated packet arrived: the connection is up. */
  established(conn: ConnectionImpl): void;
  /** The connection is over (peer closed, idle, protocol violation); it must be forgotten. */
  closed(conn: ConnectionImpl, reason: string): void;
}

export interface ConnectionParams {
  /** Configured peer address `ip:port`, and its parts. */
  peer: string;
  host: string;
  port: number;
  deviceId: string;
  /** Session id of the peer process (hex): a change means the peer restarted. */
  sessionId: string;
  role: HandshakeRole;
  localCid: number;
  remoteCid: number;
  protection: PacketProtection;
  packetSize: number;
  /** Cap on packets in flight. */
  window: number;
  /**
   * The peer's kernel receive buffer in bytes: the window is also capped at what it absorbs
   * (receive-budget.ts). Not announced by the protocol; the endpoint assumes the peer's is like its own.
   */
  receiveBufferBytes: number;
  /** RTT measured by the handshake. */
  initialRttMs: number;
  idleTimeoutMs: number;
  bulkHighWaterMark: number;
  /** Initiator only: the CONFIRM datagram, repeated until the responder's first packet arrives. */
  confirm: Uint8Array | null;
}

export type ReceiveResult = "ok" | "duplicate" | "malformed";

export class ConnectionImpl implements Connection, LossListener {
  readonly peer: string;
  readonly peerHost: string;
  readonly peerPort: number;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly role: HandshakeRole;
  readonly localCid: number;
  readonly remoteCid: number;
  state: "confirming" | "established" | "closed";
  /** When the endpoint's next flush for this connection is due because of pacing (Infinity: none). */
  pacingWakeAt = Number.POSITIVE_INFINITY;

  private readonly protection: PacketProtection;
  private readonly packetSize: number;
  private readonly idleTimeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly highWater: number;
  private readonly rtt: RttEstimator;
  private readonly acks = new AckTracker(MAX_ACK_DELAY_MS);
  private readonly loss: LossDetector;
  private readonly sampler = new DeliveryRateSampler();
  private readonly cc: CongestionController;
  private readonly pacer: Pacer;
  private readonly streamOut = new StreamSender();
  private readonly bulkOut = new BulkSender();
  private readonly streamIn: StreamReceiver;
  private readonly bulkIn: BulkReceiver;

  private lastReceivedAt: number;
  private lastElicitingSentAt: number;
  private confirm: Uint8Array | null;
  private confirmBackoff = 0;
  private confirmAt: number;
  private probes = 0;
  private pingPending = false;
  private maxDataPending = false;
  private closeReason: string | null = null;
  private drainWanted = false;
  /**
   * Where packets are built, in buffers reused a few packets later: the whole datagram when gathered,
   * only header and frame headers when sealed in place.
   */
  private readonly datagrams: DatagramRing;
  /**
   * The protection transforms the payload (an AEAD): bulk data is then sealed where it lies instead of
   * being copied into the datagram buffer first, since the AEAD writes its output elsewhere anyway.
   */
  private readonly sealInPlace: boolean;
  /** The payload's parts as handed to the protection; valid only while one packet is built. */
  private readonly payloadParts: Uint8Array[] = [];
  /** The datagram's parts as handed to the host; valid only during the call. */
  private readonly sendParts: Uint8Array[] = [];
  private readonly streamPick: StreamPick = { offset: 0, length: 0, retransmit: false };
  private readonly bulkPick: BulkPick = { message: null, offset: 0, length: 0, retransmit: false };

  private packetsSent = 0;
  private packetsReceived = 0;
  private packetsLost = 0;
  private packetsRetransmitted = 0;

  constructor(
    params: ConnectionParams,
    private readonly host: ConnectionHost,
    now: number,
  ) {
    this.peer = params.peer;
    this.peerHost = params.host;
    this.peerPort = params.port;
    this.deviceId = params.deviceId;
    this.sessionId = params.sessionId;
    this.role = params.role;
    this.localCid = params.localCid;
    this.remoteCid = params.remoteCid;
    this.protection = params.protection;
    this.packetSize = params.packetSize;
    this.idleTimeoutMs = params.idleTimeoutMs;
    this.keepaliveMs = params.idleTimeoutMs / 5;
    this.highWater = params.bulkHighWaterMark;
    this.confirm = params.confirm;
    this.state = params.confirm === null ? "established" : "confirming";
    this.lastReceivedAt = now;
    this.lastElicitingSentAt = now;
    this.rtt = new RttEstimator({ ...defaultRttConfig, initialRttMs: params.initialRttMs });
    // The endpoint sends the first CONFIRM itself; repeats start one RTO later.
    this.confirmAt = now + this.rtt.rto(this.confirmBackoff++);
    this.loss = new LossDetector(this.rtt, this);
    const window = Math.max(
      MIN_CWND_PACKETS,
      Math.min(params.window, receiveWindowPackets(params.receiveBufferBytes, params.packetSize)),
    );
    this.cc = new CongestionController(
      {
        mss: params.packetSize,
        maxCwnd: window * params.packetSize,
        initialCwndPackets: Math.min(window, 32),
        minCwndPackets: MIN_CWND_PACKETS,
        ackAllowanceMs: ACK_ALLOWANCE_MS,
      },
      params.initialRttMs,
    );
    this.pacer = new Pacer(PACING_BURST_MS, 2 * params.packetSize, now);
    this.datagrams = new DatagramRing(params.packetSize);
    this.sealInPlace = params.protection.trailer === undefined;
    this.streamIn = new StreamReceiver((msg) => this.host.deliverMessage(this, msg));
    this.bulkIn = new BulkReceiver((msg) => this.host.deliverBulk(this, msg));
    // The responder announces itself at once: its first packet is what confirms the initiator.
    if (this.state === "established") this.pingPending = true;
  }

  get open(): boolean {
    return this.state !== "closed";
  }

  sendMessage(msg: Uint8Array): void {
    if (this.state === "closed") return;
    this.streamOut.write(msg);
    this.host.wake(this);
  }

  sendBulk(msg: Uint8Array): boolean {
    if (msg.length === 0 || msg.length > MAX_BULK_MESSAGE) {
      throw new RangeError(`bulk messages must be 1..${MAX_BULK_MESSAGE} bytes, got ${msg.length}`);
    }
    if (this.state === "closed") return true;
    this.bulkOut.enqueue(msg);
    this.host.wake(this);
    if (this.bulkOut.retainedBytes < this.highWater) return true;
    this.drainWanted = true;
    return false;
  }

  stats(): ConnectionStats {
    return {
      srttMs: this.rtt.smoothed,
      cwndPackets: this.cc.cwnd / this.packetSize,
      packetsSent: this.packetsSent,
      packetsLost: this.packetsLost,
      packetsRetransmitted: this.packetsRetransmitted,
      bytesInFlight: this.loss.bytesInFlight,
      packetsReceived: this.packetsReceived,
      pacingRateMBps: this.cc.pacingRate / 1000,
      bandwidthMBps: this.cc.bandwidth / 1000,
      bulkQueuedBytes: this.bulkOut.retainedBytes,
    };
  }

  /** Processes a DATA datagram addressed to this connection (header already decoded). */
  receive(now: number, header: PacketHeader, datagram: Uint8Array): ReceiveResult {
    if (this.state === "closed") return "duplicate";
    const pn = header.packetNumber;
    if (this.acks.isDuplicate(pn)) return "duplicate";
    const payload = this.protection.open(
      datagram.subarray(0, HEADER_SIZE),
      pn,
      datagram.subarray(HEADER_SIZE),
    );
    if (payload === null) return "malformed";
    const frames = decodeFrames(payload);
    if (frames instanceof DecodeError || !this.acceptable(frames)) return "malformed";

    this.packetsReceived++;
    this.lastReceivedAt = now;
    if (this.state === "confirming") {
      this.state = "established";
      this.confirm = null;
      this.host.established(this);
    }
    let ackEliciting = false;
    for (const frame of frames) if (frame.type !== FrameType.Ack) ackEliciting = true;
    // Recorded before the frames run: delivering them calls into the application.
    this.acks.onPacket(pn, ackEliciting, now);
    for (const frame of frames) if (!this.apply(frame, now)) return "ok";
    this.scheduleCreditUpdate();
    return "ok";
  }

  /** Checks that would reject the whole packet, run before any frame is applied. */
  private acceptable(frames: Frame[]): boolean {
    for (const f of frames) {
      if (f.type === FrameType.Ack && f.ranges[0]!.largest >= this.loss.nextPn) return false;
      if (f.type === FrameType.Stream && this.streamIn.check(f.offset, f.data.length) === "violation")
        return false;
      if (f.type === FrameType.Bulk && this.bulkIn.check(f.messageId, f.totalLength) === "violation")
        return false;
    }
    return true;
  }

  /** Applies one frame; returns false if the connection was closed by it. */
  private apply(frame: Frame, now: number): boolean {
    switch (frame.type) {
      case FrameType.Ack:
        this.onAckFrame(frame, now);
        return true;
      case FrameType.Stream:
        if (this.streamIn.onData(frame.offset, frame.data) === "violation") {
          this.shutdown(now, "protocol violation: stream", true);
          return false;
        }
        return this.state !== "closed";
      case FrameType.Bulk:
        if (
          this.bulkIn.onFragment(frame.messageId, frame.totalLength, frame.offset, frame.data) === "violation"
        ) {
          this.shutdown(now, "protocol violation: bulk", true);
          return false;
        }
        return this.state !== "closed";
      case FrameType.MaxData:
        if (frame.streamLimit > this.streamOut.limit) this.streamOut.limit = frame.streamLimit;
        if (frame.bulkLimit > this.bulkOut.limit) this.bulkOut.limit = frame.bulkLimit;
        return true;
      case FrameType.Ping:
        return true;
      case FrameType.Close:
        this.shutdown(now, `closed by peer: ${frame.reason}`, false);
        return false;
    }
  }

  private onAckFrame(frame: AckFrame, now: number): void {
    const outcome = this.loss.onAck(frame, now);
    if (outcome.ackedBytes === 0) return;
    const minInterval = Number.isFinite(this.cc.minRtt) ? this.cc.minRtt : 0;
    const sample = this.sampler.takeSample(minInterval);
    this.cc.onAck(
      now,
      sample,
      outcome.ackedBytes,
      outcome.rttSample,
      this.loss.bytesInFlight,
      this.sampler.delivered,
    );
    if (this.drainWanted && this.bulkOut.retainedBytes <= this.highWater / 2) {
      this.drainWanted = false;
      this.host.drain(this);
    }
  }

  onPacketAcked(p: SentPacket, now: number): void {
    this.sampler.onAcked(p, now);
    const frames = p.frames;
    if (frames === null) return;
    for (const f of frames) {
      if (f.bulk === null) this.streamOut.onAcked(f.offset, f.length);
      else this.bulkOut.onAcked(f.bulk, f.offset, f.length);
    }
  }

  onPacketLost(p: SentPacket): void {
    this.packetsLost++;
    this.cc.onLoss(p.size);
    if (p.hasMaxData) this.maxDataPending = true;
    this.requeue(p);
  }

  private requeue(p: SentPacket): void {
    const frames = p.frames;
    if (frames === null) return;
    for (const f of frames) {
      if (f.bulk === null) this.streamOut.onLost(f.offset, f.length);
      else this.bulkOut.onLost(f.bulk, f.offset, f.length);
    }
  }

  private scheduleCreditUpdate(): void {
    if (this.streamIn.creditUpdate() >= 0) this.maxDataPending = true;
    if (this.bulkIn.creditUpdate() >= 0) this.maxDataPending = true;
  }

  /** Earliest time `onTimer` has work to do. */
  nextDeadline(): number {
    if (this.state === "closed") return Number.POSITIVE_INFINITY;
    let t = Math.min(
      this.acks.ackDeadline,
      this.loss.nextDeadline(),
      this.lastReceivedAt + this.idleTimeoutMs,
      this.pacingWakeAt,
    );
    if (this.state === "confirming") t = Math.min(t, this.confirmAt);
    else t = Math.min(t, this.lastElicitingSentAt + this.keepaliveMs);
    return t;
  }

  onTimer(now: number): void {
    if (this.state === "closed") return;
    if (now >= this.lastReceivedAt + this.idleTimeoutMs) {
      this.shutdown(now, `timeout: peer silent for ${Math.round(now - this.lastReceivedAt)} ms`, false);
      return;
    }
    if (now >= this.pacingWakeAt) this.pacingWakeAt = Number.POSITIVE_INFINITY;
    if (this.state === "confirming") {
      if (now >= this.confirmAt && this.confirm !== null) {
        this.host.sendDatagram(this, [this.confirm]);
        this.confirmAt = now + this.rtt.rto(this.confirmBackoff++);
      }
      return;
    }
    this.acks.onTimer(now);
    if (now >= this.loss.nextDeadline() && this.loss.onTimeout(now)) this.onProbeTimeout();
    if (now >= this.lastElicitingSentAt + this.keepaliveMs) this.pingPending = true;
  }

  /**
   * RFC 9002 §6.2.4: send probes, carrying new data if there is some, else a PING. Not a copy of the
   * oldest unacknowledged packet: with 65000-byte datagrams that costs 65 KB each time a busy peer (GC,
   * a long event-loop turn) merely acknowledges late, which on loopback is most timeouts. The PING's ACK
   * tells the truth: if the packet was really lost, the time threshold declares it so at once.
   */
  private onProbeTimeout(): void {
    this.probes = PROBES_PER_TIMEOUT;
    if (!this.streamOut.hasData() && !this.bulkOut.hasData()) this.pingPending = true;
  }

  /**
   * Sends up to `budget` packets. Returns 0 if it could send more right away (call again next turn),
   * the time pacing allows the next packet, or Infinity when only an ACK or new data can unblock it.
   */
  transmit(now: number, budget: number): number {
    if (this.state !== "established") return Number.POSITIVE_INFINITY;
    for (let i = 0; i < budget; i++) {
      const next = this.sendOne(now);
      if (next !== 0) return next;
    }
    return 0;
  }

  private sendOne(now: number): number {
    const probing = this.probes > 0;
    const control = this.maxDataPending || this.pingPending || this.closeReason !== null;
    const dataReady = this.streamOut.hasData() || this.bulkOut.hasData();
    const ackDue = this.acks.ackDue;
    if (!dataReady && !control && !ackDue && !probing) {
      if (this.loss.bytesInFlight + this.packetSize <= this.cc.cwnd)
        this.sampler.markAppLimited(this.loss.bytesInFlight);
      return Number.POSITIVE_INFINITY;
    }
    let mayData = probing;
    let blockedUntil = Number.POSITIVE_INFINITY;
    if (dataReady && !probing) {
      if (this.loss.bytesInFlight + this.packetSize > this.cc.cwnd) {
        blockedUntil = Number.POSITIVE_INFINITY;
      } else if (!this.pacer.canSend(now, this.cc.pacingRate)) {
        blockedUntil = now + this.pacer.delayUntilSend(now, this.cc.pacingRate);
      } else {
        mayData = true;
      }
    }
    if (!mayData && !control && !ackDue) return blockedUntil;
    if (this.host.socketBusy()) return 0;
    this.buildAndSend(now, mayData, probing);
    if (probing) this.probes--;
    return 0;
  }

  private buildAndSend(now: number, mayData: boolean, probing: boolean): void {
    const pn = this.loss.nextPn;
    const out = this.datagrams.take();
    let p = writeHeader(out, 0, { type: PacketType.Data, connectionId: this.remoteCid, packetNumber: pn });
    const end = this.packetSize - this.protection.overhead;
    // With sealInPlace, bulk data stays in its message: `parts` collects the payload so far, and
    // out[runStart, p) holds the frame bytes written since the last part; `inPlace` counts the data bytes
    // that are in the payload but not in `out`.
    const parts = this.payloadParts;
    parts.length = 0;
    let runStart = p;
    let inPlace = 0;
    let ackEliciting = false;
    let hasMaxData = false;
    let retransmit = false;

    if (this.acks.hasUnacked) {
      const ack = this.acks.buildFrame(now);
      if (ack !== null) p = writeAckFrame(out, p, ack);
    }
    if (this.maxDataPending) {
      this.maxDataPending = false;
      hasMaxData = true;
      p = writeFrame(out, p, {
        type: FrameType.MaxData,
        streamLimit: this.streamIn.limit,
        bulkLimit: this.bulkIn.limit,
      });
    }
    if (this.closeReason !== null) {
      p = writeFrame(out, p, { type: FrameType.Close, reason: this.closeReason });
      this.closeReason = null;
      ackEliciting = true;
    }

    let frames: SentFrame[] | null = null;
    if (mayData) {
      const stream = this.streamPick;
      const bulk = this.bulkPick;
      // One byte stays free for a PING.
      while (end - 1 - p - inPlace >= MIN_DATA_ROOM) {
        const room = end - 1 - p - inPlace;
        let frame: SentFrame;
        if (this.streamOut.next(room, stream)) {
          p = writeStreamHeader(out, p, stream.offset, stream.length);
          this.streamOut.copy(stream.offset, stream.length, out, p);
          p += stream.length;
          retransmit ||= stream.retransmit;
          frame = new SentFrame(null, stream.offset, stream.length);
        } else if (this.bulkOut.next(room, bulk)) {
          const m = bulk.message as BulkOutbound;
          p = writeBulkHeader(out, p, m.id, m.data.length, bulk.offset, bulk.length);
          const data = m.data.subarray(bulk.offset, bulk.offset + bulk.length);
          if (this.sealInPlace) {
            parts.push(out.subarray(runStart, p), data);
            runStart = p;
            inPlace += data.length;
          } else {
            out.set(data, p);
            p += data.length;
          }
          retransmit ||= bulk.retransmit;
          frame = new SentFrame(m, bulk.offset, bulk.length);
        } else {
          break;
        }
        if (frames === null) frames = [frame];
        else frames.push(frame);
      }
    }
    if (frames !== null || hasMaxData) ackEliciting = true;
    if (this.pingPending || (probing && !ackEliciting)) {
      out[p++] = FrameType.Ping;
      this.pingPending = false;
      ackEliciting = true;
    }

    if (runStart < p || parts.length === 0) parts.push(out.subarray(runStart, p));
    const size = this.seal(out, p, pn);
    parts.length = 0;
    const packet = new SentPacket(pn, now, size, ackEliciting, frames, hasMaxData);
    if (ackEliciting) {
      this.sampler.onSent(packet, now, this.loss.bytesInFlight);
      this.lastElicitingSentAt = now;
      if (mayData && !probing) this.pacer.onSent(size);
    }
    this.loss.onSent(packet);
    this.packetsSent++;
    if (retransmit) this.packetsRetransmitted++;
  }

  /**
   * Protects the header and the payload (`payloadParts`; gathered, that is `datagram[HEADER_SIZE, end)`)
   * and sends them; returns the datagram size.
   */
  private seal(datagram: Buffer, end: number, pn: number): number {
    const protection = this.protection;
    const header = datagram.subarray(0, HEADER_SIZE);
    const parts = this.sendParts;
    if (protection.trailer !== undefined) {
      // The trailer goes right behind the payload, so the datagram leaves as one contiguous buffer.
      const trailer = protection.trailer(header, pn, this.payloadParts);
      datagram.set(trailer, end);
      parts[0] = datagram.subarray(0, end + trailer.length);
      this.host.sendDatagram(this, parts);
      return end + trailer.length;
    }
    // AEADs return the sealed payload in buffers of their own.
    const sealed = protection.seal(header, pn, this.payloadParts);
    parts[0] = header;
    let size = HEADER_SIZE;
    for (const part of sealed) {
      parts.push(part);
      size += part.length;
    }
    this.host.sendDatagram(this, parts);
    parts.length = 1;
    return size;
  }

  /** Ends the connection; with `notifyPeer` a CLOSE frame is sent first (best effort, no retransmission). */
  shutdown(now: number, reason: string, notifyPeer: boolean): void {
    if (this.state === "closed") return;
    if (notifyPeer && this.state === "established" && !this.host.socketBusy()) {
      this.closeReason = reason;
      this.buildAndSend(now, false, false);
    }
    this.state = "closed";
    this.bulkIn.dispose();
    this.bulkOut.dispose();
    this.host.closed(this, reason);
  }
}
