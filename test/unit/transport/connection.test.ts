import assert from "node:assert/strict";
import { test } from "node:test";
import { pskSecurity } from "../../../src/crypto/psk.js";
import { type ConnectionHost, ConnectionImpl } from "../../../src/transport/connection.js";
import { plaintextSecurity } from "../../../src/transport/plaintext.js";
import type { SecurityProvider } from "../../../src/transport/types.js";
import { FakeClock } from "../../../src/util/clock.js";
import { decodeHeader, type PacketHeader } from "../../../src/wire/header.js";

/**
 * Two connections joined by a simulated link under a fake clock: each datagram is delayed, and dropped
 * with probability `loss` (seeded). The harness plays the endpoint's role: it calls transmit after
 * every event and onTimer at each connection's deadline.
 */
class Harness {
  readonly clock = new FakeClock();
  readonly a: ConnectionImpl;
  readonly b: ConnectionImpl;
  readonly inbox = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  readonly bulk = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  readonly messages = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  readonly closed = { a: "", b: "" };
  readonly confirms: Uint8Array[] = [];
  private readonly confirm = new Uint8Array([1, 2, 3]);
  established = false;
  private rng: number;
  /** Drop every datagram in this direction while true (a blackout). */
  dark = false;
  loss = 0;
  delayMs = 5;
  /** What the endpoint reports about its socket's send queue. */
  socketBusy = false;
  malformed = 0;

  constructor(
    seed: number,
    aConfirming = false,
    private readonly security: SecurityProvider = plaintextSecurity,
  ) {
    this.rng = seed;
    this.a = new ConnectionImpl(this.params("initiator", 1, 2, aConfirming), this.host("a"), 0);
    this.b = new ConnectionImpl(this.params("responder", 2, 1, false), this.host("b"), 0);
  }

  private params(role: "initiator" | "responder", local: number, remote: number, confirming: boolean) {
    return {
      peer: role,
      host: "127.0.0.1",
      port: 1,
      deviceId: role,
      sessionId: role,
      role,
      localCid: local,
      remoteCid: remote,
      protection: this.security.protect(role, new Uint8Array(8)),
      packetSize: 1400,
      window: 256,
      receiveBufferBytes: 8 * 1024 * 1024,
      initialRttMs: 10,
      idleTimeoutMs: 5000,
      bulkHighWaterMark: 1 << 20,
      confirm: confirming ? this.confirm : null,
    };
  }

  private random(): number {
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) | 0;
    return (this.rng >>> 0) / 4294967296;
  }

  private host(side: "a" | "b"): ConnectionHost {
    const other = side === "a" ? "b" : "a";
    return {
      sendDatagram: (_conn, parts) => {
        const datagram = Buffer.concat(parts as Uint8Array[]);
        assert.ok(datagram.length <= 1400, `datagram of ${datagram.length} bytes exceeds the packet size`);
        if (parts[0] === this.confirm) {
          this.confirms.push(datagram);
          return;
        }
        if (this.dark || this.random() < this.loss) return;
        this.clock.setTimeout(() => this.inbox[other].push(datagram), this.delayMs);
      },
      socketBusy: () => this.socketBusy,
      deliverMessage: (_c, m) => this.messages[side].push(Uint8Array.from(m)),
      deliverBulk: (_c, m) => this.bulk[side].push(Uint8Array.from(m)),
      drain: () => {},
      wake: () => {},
      established: () => {
        this.established = true;
      },
      closed: (_c, reason) => {
        this.closed[side] = reason;
      },
    };
  }

  /** Runs until `done()` or the time limit; returns the fake time reached. */
  run(done: () => boolean, limitMs = 60_000): number {
    while (this.clock.now() < limitMs && !done()) {
      const now = this.clock.now();
      for (const [conn, inbox] of [
        [this.a, this.inbox.a],
        [this.b, this.inbox.b],
      ] as const) {
        for (const d of inbox.splice(0)) {
          if (conn.receive(now, decodeHeader(d) as PacketHeader, d) === "malformed") this.malformed++;
        }
        if (now >= conn.nextDeadline()) conn.onTimer(now);
        conn.pacingWakeAt = Number.POSITIVE_INFINITY;
        const wake = conn.transmit(now, 16);
        if (wake > now && wake < Number.POSITIVE_INFINITY) conn.pacingWakeAt = wake;
      }
      this.clock.advance(0.25);
    }
    return this.clock.now();
  }
}

function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const securities = [
  ["plaintext", plaintextSecurity],
  // Sealed in place: bulk data goes to the AEAD as parts of its message, not copied into the datagram.
  ["encrypted", pskSecurity(new Uint8Array(32).fill(7))],
] as const;

for (const [name, security] of securities)
  test(`${name}: messages arrive in order and bulk messages exactly once over a lossy link`, () => {
    const h = new Harness(7, false, security);
    h.loss = 0.1;
    const messages = [payload(1, 1), payload(0, 0), payload(5000, 2), payload(70_000, 3)];
    const bulk = [payload(1, 4), payload(3000, 5), payload(100_000, 6)];
    for (const m of messages) h.a.sendMessage(m);
    for (const m of bulk) h.a.sendBulk(m);
    h.b.sendMessage(payload(10, 9));
    h.run(
      () =>
        h.messages.b.length === messages.length &&
        h.bulk.b.length === bulk.length &&
        h.messages.a.length === 1,
    );
    assert.deepEqual(h.messages.b, messages);
    const key = (m: Uint8Array) => Buffer.from(m).toString("hex");
    assert.deepEqual(h.bulk.b.map(key).sort(), bulk.map(key).sort());
    assert.deepEqual(h.messages.a, [payload(10, 9)]);
    assert.ok(h.a.stats().packetsLost > 0, "the link really lost packets");
    assert.ok(h.a.stats().packetsRetransmitted > 0);
    // Quiet afterwards: every packet acknowledged, nothing left to resend.
    h.loss = 0;
    h.run(() => h.a.stats().bytesInFlight === 0 && h.a.stats().bulkQueuedBytes === 0, h.clock.now() + 2000);
    assert.equal(h.a.stats().bytesInFlight, 0);
    assert.equal(h.a.stats().bulkQueuedBytes, 0);
    assert.equal(h.bulk.b.length, bulk.length, "no duplicate delivery");
  });

test("a lost tail is recovered by the probe timeout", () => {
  const h = new Harness(1);
  h.dark = true;
  h.a.sendMessage(payload(100, 1));
  h.run(() => h.a.stats().packetsSent > 0, 100);
  h.dark = false;
  const sentBefore = h.a.stats().packetsSent;
  const start = h.clock.now();
  h.run(() => h.messages.b.length === 1);
  assert.equal(h.messages.b.length, 1);
  assert.ok(h.a.stats().packetsSent > sentBefore, "a probe was sent");
  assert.ok(h.clock.now() - start < 200, `recovered after ${h.clock.now() - start} ms`);
});

test("a silent peer is declared down after the idle timeout, despite keepalives", () => {
  const h = new Harness(1);
  h.run(() => h.clock.now() > 3000);
  assert.equal(h.closed.a, "", "keepalives keep an idle but healthy connection up");
  h.dark = true;
  const start = h.clock.now();
  h.run(() => h.closed.a !== "" && h.closed.b !== "");
  assert.match(h.closed.a, /^timeout/);
  assert.ok(h.clock.now() - start >= 5000 && h.clock.now() - start < 5100);
  assert.equal(h.a.open, false);
});

test("a CLOSE frame ends the connection on both sides with the reason", () => {
  const h = new Harness(1);
  h.a.shutdown(h.clock.now(), "going away", true);
  assert.equal(h.closed.a, "going away");
  h.run(() => h.closed.b !== "");
  assert.equal(h.closed.b, "closed by peer: going away");
  h.a.sendMessage(payload(3, 3));
  assert.equal(h.a.sendBulk(payload(3, 3)), true, "sends after close are dropped, not refused");
});

test("corrupted datagrams are dropped as malformed and the data still arrives", () => {
  const h = new Harness(3);
  const originalPush = h.inbox.b.push.bind(h.inbox.b);
  let n = 0;
  h.inbox.b.push = (...items: Uint8Array[]) => {
    for (const d of items) {
      if (n++ % 4 === 0) {
        const bad = Uint8Array.from(d);
        bad[bad.length >> 1] = bad[bad.length >> 1]! ^ 0x10;
        originalPush(bad);
      } else {
        originalPush(d);
      }
    }
    return h.inbox.b.length;
  };
  h.a.sendBulk(payload(50_000, 8));
  h.run(() => h.bulk.b.length === 1);
  assert.deepEqual(h.bulk.b, [payload(50_000, 8)]);
  assert.ok(h.malformed > 0);
});

test("the initiator repeats CONFIRM until the responder's first packet, then is established", () => {
  const h = new Harness(1, true);
  assert.equal(h.a.state, "confirming");
  h.dark = true;
  h.run(() => h.confirms.length >= 2, 1000);
  assert.ok(h.confirms.length >= 2);
  assert.equal(h.established, false);
  h.dark = false;
  h.run(() => h.established);
  assert.equal(h.a.state, "established");
});

test("bulk sends report the high-water mark", () => {
  const h = new Harness(1);
  assert.equal(h.a.sendBulk(payload(600_000, 1)), true);
  assert.equal(h.a.sendBulk(payload(600_000, 2)), false);
  assert.throws(() => h.a.sendBulk(new Uint8Array(0)), RangeError);
});

test("nothing is built while the socket still holds unsent datagrams", () => {
  const h = new Harness(1);
  h.run(() => h.clock.now() > 20);
  h.socketBusy = true;
  h.a.sendBulk(payload(100_000, 1));
  const sent = h.a.stats().packetsSent;
  assert.equal(h.a.transmit(h.clock.now(), 16), 0, "retry on the next turn");
  assert.equal(h.a.stats().packetsSent, sent);
  h.socketBusy = false;
  h.run(() => h.bulk.b.length === 1);
  assert.deepEqual(h.bulk.b, [payload(100_000, 1)]);
});
