/**
 * Two real endpoints on loopback addresses. Ports 24000–24999 and hosts 127.0.0.30–39 belong to this
 * file.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pskSecurity } from "../../../src/crypto/psk.js";
import { Endpoint } from "../../../src/transport/endpoint.js";
import { plaintextSecurity } from "../../../src/transport/plaintext.js";
import {
  allocBulk,
  type Connection,
  type PeerAddress,
  releaseBulk,
  type SecurityProvider,
} from "../../../src/transport/types.js";
import { memoryLogger } from "../../../src/util/log.js";
import { encodeClosePacket } from "../../../src/wire/handshake.js";
import { encodeHeader, PacketType } from "../../../src/wire/header.js";
import { startRelay } from "../../helpers/relay.js";
import { withVersion } from "../wire/arbitraries.js";

const A_HOST = "127.0.0.30";
const B_HOST = "127.0.0.31";
let nextPort = 24000 + Math.floor(Math.random() * 400) * 2;
const open: Endpoint[] = [];

after(async () => {
  await Promise.all(open.map((e) => e.close()));
});

interface Side {
  endpoint: Endpoint;
  log: ReturnType<typeof memoryLogger>;
  address: PeerAddress;
}

async function side(
  self: PeerAddress,
  peer: PeerAddress,
  security: SecurityProvider = plaintextSecurity,
  idleTimeoutMs = 5000,
  deviceId: Uint8Array = randomBytes(16),
): Promise<Side> {
  const log = memoryLogger();
  const endpoint = await Endpoint.open({
    bind: self.host,
    port: self.port,
    peers: [peer],
    deviceId,
    packetSize: 32000,
    window: 512,
    security,
    log,
    idleTimeoutMs,
  });
  open.push(endpoint);
  return { endpoint, log, address: self };
}

function addresses(): [PeerAddress, PeerAddress] {
  const port = nextPort;
  nextPort += 2;
  return [
    { host: A_HOST, port },
    { host: B_HOST, port: port + 1 },
  ];
}

async function pair(
  security: SecurityProvider = plaintextSecurity,
): Promise<[Side, Side, Connection, Connection]> {
  const [a, b] = addresses();
  const sa = await side(a, b, security);
  const sb = await side(b, a, security);
  const [[ca], [cb]] = await Promise.all([once(sa.endpoint, "peerUp"), once(sb.endpoint, "peerUp")]);
  return [sa, sb, ca as Connection, cb as Connection];
}

function logged(s: Side, pattern: RegExp): boolean {
  return s.log.records.some((r) => pattern.test(r.message));
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

describe("endpoint", () => {
  it("connects, delivers messages of 1 B to 5 MiB in order and bulk messages exactly once", async () => {
    const [sa, sb, ca, cb] = await pair();
    assert.equal(ca.peer, `${B_HOST}:${sb.address.port}`);
    assert.equal(cb.peer, `${A_HOST}:${sa.address.port}`);
    assert.equal(ca.deviceId.length, 32);
    const sizes = [1, 0, 100, 1400, 32000, 65536, 1_000_000, 5 * 1024 * 1024];
    const messages = sizes.map((n) => randomBytes(n));
    const bulks = Array.from({ length: 40 }, (_, i) => randomBytes(1 + i * 20_000));
    const gotMessages: Buffer[] = [];
    const gotBulk = new Map<string, number>();
    sb.endpoint.on("message", (_c, m) => gotMessages.push(Buffer.from(m)));
    sb.endpoint.on("bulk", (_c, m) => {
      const k = Buffer.from(m).subarray(0, 32).toString("hex") + m.length;
      gotBulk.set(k, (gotBulk.get(k) ?? 0) + 1);
    });
    for (const m of messages) ca.sendMessage(m);
    for (const m of bulks) ca.sendBulk(m);
    await until(() => gotMessages.length === messages.length && gotBulk.size === bulks.length, 20_000);
    await sleep(100);
    assert.deepEqual(gotMessages, messages);
    for (const m of bulks) assert.equal(gotBulk.get(m.subarray(0, 32).toString("hex") + m.length), 1);
    assert.equal(sb.endpoint.connections().length, 1);
    assert.equal(sa.endpoint.stats().strangers, 0);
  });

  it("logs peer up and down at debug level only: announcing them to the user is the sync layer's", async () => {
    const [sa, sb] = await pair();
    await sb.endpoint.close();
    await until(() => sa.endpoint.connections().length === 0, 2000);
    const transitions = sa.log.records.filter((r) => /^peer \S+ (up|down)\b/.test(r.message));
    assert.deepEqual(
      transitions.map((r) => [r.level, r.event]),
      [
        ["debug", "transport.peer-up"],
        ["debug", "transport.peer-down"],
      ],
    );
  });

  it("recycles pooled bulk buffers on both sides without ever corrupting a message", async () => {
    const [sa, sb, ca] = await pair();
    const count = 60;
    const size = 300_000;
    const received = new Map<number, string>();
    const buffers = new Set<ArrayBufferLike>();
    sb.endpoint.on("bulk", (_c, m) => {
      buffers.add(m.buffer);
      received.set(Buffer.from(m).readUInt32BE(0), createHash("sha256").update(m).digest("hex"));
      releaseBulk(m);
    });
    const expected = new Map<number, string>();
    const sent = new Set<ArrayBufferLike>();
    for (let i = 0; i < count; i++) {
      const msg = allocBulk(size);
      sent.add(msg.buffer);
      msg.set(randomBytes(size));
      new DataView(msg.buffer, msg.byteOffset).setUint32(0, i);
      expected.set(i, createHash("sha256").update(msg).digest("hex"));
      const more = ca.sendBulk(msg);
      releaseBulk(msg);
      if (!more) await once(sa.endpoint, "drain");
      // Let acknowledgements return buffers to the pool now and then, so that later messages reuse them.
      if (i % 10 === 9) await until(() => ca.stats().bulkQueuedBytes === 0, 10_000);
    }
    await until(() => received.size === count, 20_000);
    assert.deepEqual(received, expected);
    assert.ok(buffers.size < count / 2, `${buffers.size} reassembly buffers for ${count} messages`);
    assert.ok(sent.size < count / 2, `${sent.size} send buffers for ${count} messages`);
  });

  it("converges to exactly one connection when both sides dial at once, repeatedly", async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = addresses();
      const ups = [0, 0];
      const sides = await Promise.all([side(a, b), side(b, a)]);
      sides.forEach((s, i) => {
        s.endpoint.on("peerUp", () => {
          ups[i]!++;
        });
      });
      await until(() => ups[0]! >= 1 && ups[1]! >= 1, 5000);
      await sleep(300);
      assert.deepEqual(ups, [1, 1], `round ${round}`);
      const [ca] = sides[0]!.endpoint.connections();
      const got = once(sides[1]!.endpoint, "message");
      ca!.sendMessage(Buffer.from("one"));
      assert.equal(Buffer.from((await got)[1] as Uint8Array).toString(), "one");
      await Promise.all(sides.map((s) => s.endpoint.close()));
    }
  });

  it("reports peerDown when the peer closes, and peerUp when it comes back", async () => {
    const [sa, sb] = await pair();
    const down = once(sa.endpoint, "peerDown");
    await sb.endpoint.close();
    const [conn, reason] = await down;
    assert.equal((conn as Connection).open, false);
    assert.equal(reason, "closed by peer: shutdown");
    const up = once(sa.endpoint, "peerUp");
    const sb2 = await side(sb.address, sa.address);
    const [fresh] = (await up) as [Connection];
    assert.equal(fresh.open, true);
    const got = once(sb2.endpoint, "bulk");
    fresh.sendBulk(Buffer.from("again"));
    assert.equal(Buffer.from((await got)[1] as Uint8Array).toString(), "again");
  });

  it("replaces the connection of a peer that restarted without saying goodbye", async () => {
    const [a, b] = addresses();
    const relayAddr = { host: "127.0.0.32", port: a.port + 500 };
    const relayOther = { host: "127.0.0.33", port: a.port + 501 };
    const relay = await startRelay({ a: relayAddr, b: relayOther, target: b });
    try {
      const sa = await side(a, relayAddr);
      const deviceId = randomBytes(16);
      const sb = await side(b, relayOther, plaintextSecurity, 5000, deviceId);
      const [[first]] = await Promise.all([once(sa.endpoint, "peerUp"), once(sb.endpoint, "peerUp")]);
      // B "crashes": its CLOSE is lost in a blackout, and a new B with the same device starts.
      relay.blackout(200);
      await sb.endpoint.close();
      const events: string[] = [];
      sa.endpoint.on("peerDown", (_c, reason) => events.push(`down: ${reason}`));
      sa.endpoint.on("peerUp", () => events.push("up"));
      await side(b, relayOther, plaintextSecurity, 5000, deviceId);
      await until(() => events.includes("up"), 5000);
      assert.deepEqual(events, ["down: peer restarted", "up"]);
      assert.equal((first as Connection).open, false);
      assert.equal(sa.endpoint.connections().length, 1);
    } finally {
      await relay.close();
    }
  });

  it("declares a silent peer down and reconnects when it answers again", async () => {
    const [a, b] = addresses();
    const relayAddr = { host: "127.0.0.34", port: a.port + 500 };
    const relayOther = { host: "127.0.0.35", port: a.port + 501 };
    const relay = await startRelay({ a: relayAddr, b: relayOther, target: b });
    try {
      const sa = await side(a, relayAddr, plaintextSecurity, 800);
      const sb = await side(b, relayOther, plaintextSecurity, 800);
      await Promise.all([once(sa.endpoint, "peerUp"), once(sb.endpoint, "peerUp")]);
      const start = performance.now();
      relay.blackout(1500);
      const [[, reason]] = await Promise.all([once(sa.endpoint, "peerDown"), once(sb.endpoint, "peerDown")]);
      assert.match(reason as string, /^timeout/);
      assert.ok(performance.now() - start >= 700);
      await Promise.all([once(sa.endpoint, "peerUp"), once(sb.endpoint, "peerUp")]);
      assert.ok(performance.now() - start >= 1400);
    } finally {
      await relay.close();
    }
  });

  it("works with the pre-shared-key provider", async () => {
    const key = pskSecurity(new Uint8Array(32).fill(3));
    const [, sb, ca] = await pair(key);
    const got = once(sb.endpoint, "message");
    const msg = randomBytes(200_000);
    ca.sendMessage(msg);
    assert.deepEqual(Buffer.from((await got)[1] as Uint8Array), msg);
  });

  it("refuses a peer with another key, and one without a key, with a clear log line", async () => {
    const [a, b] = addresses();
    const sa = await side(a, b, pskSecurity(new Uint8Array(32).fill(1)));
    const sb = await side(b, a, pskSecurity(new Uint8Array(32).fill(2)));
    let ups = 0;
    sa.endpoint.on("peerUp", () => ups++);
    sb.endpoint.on("peerUp", () => ups++);
    await until(() => logged(sa, /wrong key/) || logged(sb, /wrong key/), 3000);
    await sb.endpoint.close();
    const sc = await side(b, a, plaintextSecurity);
    sc.endpoint.on("peerUp", () => ups++);
    const ours = new RegExp(
      `^peer ${A_HOST}:${a.port}: encryption mismatch \\(we have no key, the peer uses one\\)$`,
    );
    const theirs = new RegExp(
      `^peer ${B_HOST}:${b.port}: encryption mismatch \\(we use a key, the peer has none\\)$`,
    );
    await until(() => logged(sa, theirs) && logged(sc, ours), 3000);
    assert.equal(ups, 0);
  });

  it("drops strangers unread and logs other protocol versions once", async () => {
    const [a, b] = addresses();
    const peer: Socket = createSocket("udp4");
    const stranger: Socket = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(b.port, b.host, r));
    await new Promise<void>((r) => stranger.bind(0, "127.0.0.36", r));
    try {
      const sa = await side(a, b);
      const future = withVersion(encodeClosePacket(1, "hello from version 2"), 2);
      for (let i = 0; i < 5; i++) {
        peer.send(future, a.port, a.host);
        stranger.send(future, a.port, a.host);
      }
      await until(() => sa.endpoint.stats().strangers === 5 && sa.endpoint.stats().malformed === 5, 2000);
      assert.ok(logged(sa, new RegExp(`peer ${B_HOST}:${b.port} speaks protocol version 2, we speak 1`)));
      assert.equal(sa.log.records.filter((r) => /speaks protocol version/.test(r.message)).length, 1);
      assert.equal(sa.log.records.filter((r) => /not a configured peer/.test(r.message)).length, 1);
    } finally {
      peer.close();
      stranger.close();
    }
  });

  it("drops a datagram whose version byte was damaged as corrupt, not as another version", async () => {
    const [a, b] = addresses();
    const peer: Socket = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(b.port, b.host, r));
    try {
      const sa = await side(a, b);
      const damaged = encodeClosePacket(1, "bye");
      damaged[2] = damaged[2]! ^ 0x20;
      const data = encodeHeader({ type: PacketType.Data, connectionId: 1, packetNumber: 1 });
      data[2] = 33;
      peer.send(damaged, a.port, a.host);
      peer.send(data, a.port, a.host);
      await until(() => sa.endpoint.stats().malformed === 2, 2000);
      assert.ok(logged(sa, new RegExp(`^peer ${B_HOST}:${b.port}: dropped datagram \\(checksum: corrupt`)));
      assert.equal(sa.log.records.filter((r) => /protocol version \d+, we speak/.test(r.message)).length, 0);
    } finally {
      peer.close();
    }
  });
});
