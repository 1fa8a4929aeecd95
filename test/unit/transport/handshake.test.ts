/**
 * Two Handshakers joined by an in-memory network under a fake clock: every datagram either side sends
 * is recorded, and delivered when the test says so.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConnectionHost, ConnectionImpl } from "../../../src/transport/connection.js";
import {
  compareParticipants,
  DIAL_BACKOFF_MAX_MS,
  type HandshakeHost,
  Handshaker,
  REDIAL_DELAY_MS,
} from "../../../src/transport/handshake.js";
import { type PeerSlot, PeerTable } from "../../../src/transport/peer-table.js";
import { plaintextSecurity } from "../../../src/transport/plaintext.js";
import type { SecurityProvider } from "../../../src/transport/types.js";
import { FakeClock, type RandomSource } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { decodeHeader, type PacketHeader, PacketType } from "../../../src/wire/header.js";

const A = { host: "127.0.0.1", port: 21000 };
const B = { host: "127.0.0.2", port: 22000 };

function seeded(seed: number): RandomSource {
  let s = seed;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) | 0;
      out[i] = s >>> 24;
    }
    return out;
  };
}

/** A provider with a key: proofs are the key byte, the role and a digest of the transcript. */
function keyed(key: number): SecurityProvider {
  const prove = (role: string, transcript: Uint8Array) =>
    Uint8Array.of(
      key,
      role === "initiator" ? 1 : 2,
      transcript.reduce((a, b) => (a * 31 + b) & 0xff, 0),
    );
  return {
    encrypted: true,
    prove,
    verify: (role, transcript, proof) => Buffer.compare(proof, prove(role, transcript)) === 0,
    protect: (role, transcript) => plaintextSecurity.protect(role, transcript),
  };
}

const noConnectionHost: ConnectionHost = {
  sendDatagram: () => {},
  socketBusy: () => false,
  deliverMessage: () => {},
  deliverBulk: () => {},
  drain: () => {},
  wake: () => {},
  established: () => {},
  closed: () => {},
};

interface Sent {
  at: number;
  datagram: Uint8Array;
}

class Side {
  readonly log = memoryLogger();
  readonly slot: PeerSlot;
  readonly handshaker: Handshaker;
  /** Everything sent, and what has not been delivered yet. */
  readonly sent: Sent[] = [];
  readonly outbox: Uint8Array[] = [];
  readonly opened: ConnectionImpl[] = [];
  readonly up: ConnectionImpl[] = [];
  readonly transcripts = new Map<ConnectionImpl, Uint8Array>();
  ignored = 0;
  malformed = 0;

  constructor(
    readonly clock: FakeClock,
    peer: { host: string; port: number },
    deviceByte: number,
    seed: number,
    security: SecurityProvider = plaintextSecurity,
  ) {
    const peers = new PeerTable([peer]);
    this.slot = peers.lookup(peer.host, peer.port)!;
    const host: HandshakeHost = {
      send: (_slot, datagram) => {
        this.sent.push({ at: clock.now(), datagram });
        this.outbox.push(datagram);
      },
      open: (slot, setup, now) => {
        const conn = new ConnectionImpl(
          {
            peer: slot.key,
            host: slot.host,
            port: slot.port,
            deviceId: Buffer.from(setup.peer.deviceId).toString("hex"),
            sessionId: Buffer.from(setup.peer.sessionId).toString("hex"),
            role: setup.role,
            localCid: setup.localCid,
            remoteCid: setup.peer.connectionId,
            protection: plaintextSecurity.protect(setup.role, setup.transcript),
            packetSize: 1400,
            window: 64,
            receiveBufferBytes: 1 << 20,
            initialRttMs: setup.handshakeRttMs,
            idleTimeoutMs: 5000,
            bulkHighWaterMark: 1 << 20,
            confirm: setup.confirm,
          },
          noConnectionHost,
          now,
        );
        this.opened.push(conn);
        this.transcripts.set(conn, setup.transcript);
        return conn;
      },
      up: (slot, conn) => this.install(slot, conn),
      ignored: () => {
        this.ignored++;
      },
      malformed: () => {
        this.malformed++;
      },
    };
    this.handshaker = new Handshaker(
      {
        clock,
        random: seeded(seed),
        log: this.log,
        security,
        deviceId: new Uint8Array(16).fill(deviceByte),
        packetSize: 1400,
      },
      peers,
      host,
    );
  }

  /** What the endpoint does when a connection becomes the peer's one. */
  install(slot: PeerSlot, conn: ConnectionImpl): void {
    slot.confirming = null;
    slot.conn = conn;
    this.handshaker.connected(slot);
    this.up.push(conn);
  }

  /** The responder's first DATA packet reached the initiator. */
  confirmed(): void {
    const conn = this.slot.confirming;
    assert.ok(conn !== null, "a confirming connection");
    this.install(this.slot, conn);
  }

  /** Hands a datagram to the handshaker as the endpoint's receive path would. */
  receive(datagram: Uint8Array): void {
    const header = decodeHeader(datagram) as PacketHeader;
    const now = this.clock.now();
    switch (header.type) {
      case PacketType.Init:
        this.handshaker.onInit(this.slot, datagram, now);
        return;
      case PacketType.InitAck:
        this.handshaker.onInitAck(this.slot, header, datagram, now);
        return;
      case PacketType.Confirm:
        this.handshaker.onConfirm(this.slot, header, datagram, now);
        return;
      case PacketType.Close:
        this.handshaker.onClosePacket(this.slot, datagram, now);
        return;
      default:
        assert.fail(`unexpected packet type ${header.type}`);
    }
  }

  typesSent(): number[] {
    return this.sent.map((s) => (decodeHeader(s.datagram) as PacketHeader).type);
  }
}

function pair(
  options: {
    seedA?: number;
    seedB?: number;
    securityA?: SecurityProvider;
    securityB?: SecurityProvider;
  } = {},
) {
  const clock = new FakeClock();
  const a = new Side(clock, B, 1, options.seedA ?? 1, options.securityA);
  const b = new Side(clock, A, 2, options.seedB ?? 2, options.securityB);
  /** Delivers everything in flight, in rounds, until both outboxes are empty. */
  const flush = () => {
    for (let round = 0; round < 20 && (a.outbox.length > 0 || b.outbox.length > 0); round++) {
      for (const d of a.outbox.splice(0)) b.receive(d);
      for (const d of b.outbox.splice(0)) a.receive(d);
    }
  };
  return { clock, a, b, flush };
}

test("a dial completes: the initiator confirms, the responder is up, both share ids and transcript", () => {
  const { clock, a, b, flush } = pair();
  a.handshaker.start();
  clock.advance(3);
  flush();
  assert.deepEqual(a.typesSent(), [PacketType.Init, PacketType.Confirm]);
  assert.deepEqual(b.typesSent(), [PacketType.InitAck]);
  assert.equal(b.up.length, 1);
  const responder = b.up[0]!;
  const initiator = a.slot.confirming!;
  assert.equal(initiator.role, "initiator");
  assert.equal(initiator.state, "confirming");
  assert.equal(responder.role, "responder");
  assert.equal(initiator.remoteCid, responder.localCid);
  assert.equal(responder.remoteCid, initiator.localCid);
  assert.deepEqual(a.transcripts.get(initiator), b.transcripts.get(responder));
  a.confirmed();
  // Connected: nobody dials any more.
  clock.advance(10_000);
  assert.equal(a.sent.length, 2);
  assert.equal(b.sent.length, 1);
});

test("INIT is repeated unchanged with backoff 100, 200, 400, 800, then 1000 ms, plus up to 25 %", () => {
  const { clock, a } = pair();
  a.handshaker.start();
  clock.advance(6000);
  const times = a.sent.map((s) => s.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const bases = [100, 200, 400, 800, 1000, 1000];
  assert.ok(gaps.length >= bases.length, `${gaps.length} repeats`);
  bases.forEach((base, i) => {
    assert.ok(gaps[i]! >= base && gaps[i]! <= base * 1.25, `gap ${i}: ${gaps[i]} for ${base}`);
  });
  for (const s of a.sent) assert.deepEqual(s.datagram, a.sent[0]!.datagram);
});

test("simultaneous dials end in one connection: the lower participant stays initiator", () => {
  const { clock, a, b, flush } = pair();
  assert.ok(
    compareParticipants(
      new Uint8Array(16).fill(1),
      a.handshaker.sessionId,
      new Uint8Array(16).fill(2),
      b.handshaker.sessionId,
    ) < 0,
  );
  a.handshaker.start();
  b.handshaker.start();
  flush();
  assert.equal(a.ignored, 1, "A ignores B's INIT while its own dial is pending");
  assert.equal(a.slot.confirming?.role, "initiator");
  assert.deepEqual(
    b.up.map((c) => c.role),
    ["responder"],
  );
  a.confirmed();
  clock.advance(3 * DIAL_BACKOFF_MAX_MS);
  flush();
  assert.equal(a.opened.length, 1);
  assert.equal(b.opened.length, 1);
  assert.equal(b.typesSent().filter((t) => t === PacketType.Init).length, 1, "B dialed once, then yielded");
});

test("a repeated INIT gets the same INIT_ACK, and only the matching CONFIRM creates a connection", () => {
  const { clock, a, b, flush } = pair();
  a.handshaker.start();
  clock.advance(150);
  // Two copies of A's INIT reach B before its answer reaches A.
  const inits = a.outbox.splice(0);
  assert.equal(inits.length, 2);
  for (const d of inits) b.receive(d);
  const answers = b.outbox.splice(0);
  assert.equal(answers.length, 2);
  assert.deepEqual(answers[0], answers[1]);
  // A CONFIRM for another connection id is ignored.
  const stale = Uint8Array.from(answers[0]!);
  a.receive(answers[0]!);
  const confirm = a.outbox.splice(0)[0]!;
  const forged = Uint8Array.from(confirm);
  forged[8] = forged[8]! ^ 0xff;
  b.receive(forged);
  assert.equal(b.up.length, 0);
  assert.ok(b.ignored >= 1);
  b.receive(confirm);
  assert.equal(b.up.length, 1);
  // The second INIT_ACK arrives late: A's dial is over, so it is ignored.
  a.receive(stale);
  flush();
  assert.equal(a.opened.length, 1);
});

test("mismatched encryption and wrong keys are refused with a log line and a CLOSE", () => {
  const plain = pair({ securityB: keyed(7) });
  plain.a.handshaker.start();
  plain.flush();
  assert.ok(
    plain.b.log.records.some(
      (r) => r.message === `peer ${A.host}:${A.port}: encryption mismatch (we use a key, the peer has none)`,
    ),
  );
  assert.ok(
    plain.a.log.records.some(
      (r) =>
        r.message ===
        `peer ${B.host}:${B.port} refused the handshake: encryption mismatch (we use a key, the peer has none)`,
    ),
  );
  assert.equal(plain.a.opened.length + plain.b.opened.length, 0);

  const keys = pair({ securityA: keyed(1), securityB: keyed(2) });
  keys.a.handshaker.start();
  keys.flush();
  const refusals = (side: typeof keys.a) => side.log.records.filter((r) => r.event === "transport.refused");
  assert.deepEqual(
    refusals(keys.a).map((r) => [r.level, r.message]),
    [["error", `peer ${B.host}:${B.port}: wrong key (the peer's key differs from ours)`]],
    "the side that checked the proof",
  );
  assert.deepEqual(
    refusals(keys.b).map((r) => [r.level, r.message]),
    [
      [
        "error",
        `peer ${A.host}:${A.port} refused the handshake: wrong key (the peer's key differs from ours)`,
      ],
    ],
    "the side told by the CLOSE says the same, at the same level",
  );
  assert.equal(keys.a.opened.length + keys.b.opened.length, 0);
  assert.ok(keys.b.typesSent().includes(PacketType.InitAck));
  assert.ok(keys.a.typesSent().includes(PacketType.Close));

  const same = pair({ securityA: keyed(3), securityB: keyed(3) });
  same.a.handshaker.start();
  same.flush();
  assert.equal(same.b.up.length, 1);
});

test("a handshake with ourselves is refused", () => {
  const clock = new FakeClock();
  const self = new Side(clock, A, 1, 5);
  self.handshaker.start();
  for (const d of self.outbox.splice(0)) self.receive(d);
  assert.ok(
    self.log.records.some((r) => r.message === `peer ${A.host}:${A.port}: it is this process itself`),
  );
  assert.equal(self.opened.length, 0);
});

test("when a connection ends the peer is dialed again after the redial delay", () => {
  const { clock, a, b, flush } = pair();
  a.handshaker.start();
  flush();
  a.confirmed();
  const conn = a.slot.conn!;
  a.slot.conn = null;
  a.handshaker.disconnected(a.slot, conn.localCid);
  const before = a.sent.length;
  clock.advance(REDIAL_DELAY_MS - 1);
  assert.equal(a.sent.length, before);
  clock.advance(1);
  assert.equal(a.typesSent()[before], PacketType.Init);
  flush();
  assert.equal(b.up.length, 2);
  assert.notEqual(a.slot.confirming!.localCid, conn.localCid);
});

test("close stops dialing and answering", () => {
  const { clock, a } = pair();
  a.handshaker.start();
  a.handshaker.close();
  const before = a.sent.length;
  clock.advance(5000);
  assert.equal(a.sent.length, before);
});
