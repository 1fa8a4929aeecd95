/**
 * 100,000 hostile datagrams against live endpoints while they move 32 MiB of bulk and stream data.
 *
 *   A (127.0.0.40) ⇄ forwarder side FA (127.0.0.42) ⇄ forwarder side FB (127.0.0.43) ⇄ B (127.0.0.41)
 *   stranger (127.0.0.44) ──▶ A
 *
 * A's configured peer is FA and B's is FB, so datagrams the fuzzer fires from the forwarder's sockets
 * come from each endpoint's peer address: they pass the address check and reach the header decoder,
 * the handshake code and the connection with the live connection id. A third of the datagrams go to A
 * from an unconfigured address. The fuzzer is paced (at most ~20,000 datagrams/s, and never more than
 * 600 ahead of what the endpoints have examined) so that the kernel delivers them instead of dropping
 * them at a full socket buffer. The forwarder records every real datagram; the fuzzer replays
 * mutated copies of them (bit flips, overwrites, truncation, extension, header edits), plus random bytes
 * and random bodies behind a valid header. Everything comes from one seeded PRNG. Ports 25000–25999.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { Endpoint } from "../../src/transport/endpoint.js";
import { plaintextSecurity } from "../../src/transport/plaintext.js";
import type { Connection, PeerAddress } from "../../src/transport/types.js";
import { memoryLogger } from "../../src/util/log.js";
import { HEADER_SIZE, MAGIC, PROTOCOL_VERSION } from "../../src/wire/header.js";
import { mulberry32, SeededRandom } from "../helpers/relay.js";

const FUZZ_DATAGRAMS = 100_000;
const MiB = 1024 * 1024;
const BASE_PORT = 25000 + Math.floor(Math.random() * 200) * 4;
const A: PeerAddress = { host: "127.0.0.40", port: BASE_PORT };
const B: PeerAddress = { host: "127.0.0.41", port: BASE_PORT + 1 };
const FA: PeerAddress = { host: "127.0.0.42", port: BASE_PORT + 2 };
const FB: PeerAddress = { host: "127.0.0.43", port: BASE_PORT + 3 };
const STRANGER_HOST = "127.0.0.44";

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function bind(address: PeerAddress): Promise<Socket> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 * MiB, sendBufferSize: 4 * MiB });
  return new Promise((resolve) => socket.bind(address.port, address.host, () => resolve(socket)));
}

/** Forwards A ⇄ B and keeps the last datagrams seen in either direction for the fuzzer. */
async function startForwarder(): Promise<{ fa: Socket; fb: Socket; captured: Buffer[] }> {
  const fa = await bind(FA);
  const fb = await bind(FB);
  const captured: Buffer[] = [];
  const record = (msg: Buffer) => {
    if (captured.length < 2048) captured.push(Buffer.from(msg));
    else captured[Math.floor(Math.random() * captured.length)] = Buffer.from(msg);
  };
  fa.on("message", (msg, rinfo) => {
    if (rinfo.port !== A.port || rinfo.address !== A.host) return;
    record(msg);
    fb.send(msg, B.port, B.host);
  });
  fb.on("message", (msg, rinfo) => {
    if (rinfo.port !== B.port || rinfo.address !== B.host) return;
    record(msg);
    fa.send(msg, A.port, A.host);
  });
  closers.push(() => {
    fa.close();
    fb.close();
  });
  return { fa, fb, captured };
}

/** Hostile datagrams from a seeded PRNG: random, mutated captures, and valid headers over junk. */
class Fuzzer extends SeededRandom {
  constructor(
    seed: number,
    private readonly captured: Buffer[],
  ) {
    super(seed);
  }

  next(): Buffer {
    const kind = this.random();
    if (kind < 0.25 || this.captured.length === 0) return this.bytes(this.int(1500));
    if (kind < 0.4) {
      const out = this.bytes(HEADER_SIZE + this.int(1200));
      out.writeUInt16BE(MAGIC, 0);
      out[2] = this.random() < 0.9 ? PROTOCOL_VERSION : this.int(256);
      out[3] = 1 + this.int(6);
      out.fill(0, 4, 8);
      // Half of them carry a connection id really in use.
      if (this.random() < 0.5) this.pick().copy(out, 8, 8, 12);
      return out;
    }
    return this.mutate(this.pick());
  }

  private pick(): Buffer {
    return this.captured[this.int(this.captured.length)]!;
  }

  private mutate(original: Buffer): Buffer {
    // Large data packets are mostly cut short, to keep the junk volume reasonable.
    let out = Buffer.from(
      original.length > 2048 && this.random() < 0.8 ? original.subarray(0, 2048) : original,
    );
    const edits = 1 + this.int(4);
    for (let e = 0; e < edits && out.length > 0; e++) {
      const what = this.int(6);
      const at = this.int(out.length);
      if (what === 0) out[at] = out[at]! ^ (1 << this.int(8));
      else if (what === 1) out[at] = this.int(256);
      else if (what === 2) out = out.subarray(0, at);
      else if (what === 3) out = Buffer.concat([out, this.bytes(1 + this.int(64))]);
      else if (what === 4 && out.length >= HEADER_SIZE)
        out.writeUInt32BE(this.int(2 ** 32), 12 + 4 * this.int(2));
      else if (out.length >= HEADER_SIZE) out[3] = this.int(8);
    }
    return out;
  }
}

function sha256(chunks: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

describe("transport under fuzzing", () => {
  it("survives 100,000 hostile datagrams while moving 32 MiB byte-exact", { timeout: 60_000 }, async () => {
    const { fa, fb, captured } = await startForwarder();
    const stranger = await bind({ host: STRANGER_HOST, port: 0 });
    closers.push(() => {
      stranger.close();
    });
    const logs = [memoryLogger(), memoryLogger()];
    const open = (self: PeerAddress, peer: PeerAddress, i: number) =>
      Endpoint.open({
        bind: self.host,
        port: self.port,
        peers: [peer],
        deviceId: randomBytes(16),
        packetSize: 32000,
        window: 512,
        security: plaintextSecurity,
        log: logs[i]!,
      });
    const a = await open(A, FA, 0);
    const b = await open(B, FB, 1);
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    const [[ca]] = (await Promise.all([once(a, "peerUp"), once(b, "peerUp")])) as [
      [Connection],
      [Connection],
    ];
    const downs: string[] = [];
    a.on("peerDown", (_c, reason) => downs.push(`A: ${reason}`));
    b.on("peerDown", (_c, reason) => downs.push(`B: ${reason}`));

    // 24 MiB as bulk messages, 8 MiB as stream messages, sizes from the same seeded generator.
    const sizes = mulberry32(99);
    const bulk: Buffer[] = [];
    for (let total = 0; total < 24 * MiB; ) {
      const n = Math.min(24 * MiB - total, 4 + Math.floor(sizes() * MiB));
      const m = randomBytes(n);
      m.writeUInt32BE(bulk.length, 0);
      bulk.push(m);
      total += n;
    }
    const stream: Buffer[] = [];
    for (let total = 0; total < 8 * MiB; ) {
      const n = Math.min(8 * MiB - total, 1 + Math.floor(sizes() * 256 * 1024));
      stream.push(randomBytes(n));
      total += n;
    }

    const bulkSeen = new Uint8Array(bulk.length);
    const bulkGot: Uint8Array[] = new Array(bulk.length);
    const streamGot: Uint8Array[] = [];
    const transferred = new Promise<void>((resolve) => {
      const check = () => {
        if (streamGot.length === stream.length && bulkSeen.every((n) => n > 0)) resolve();
      };
      b.on("bulk", (_c, m) => {
        const index = Buffer.from(m.buffer, m.byteOffset, m.byteLength).readUInt32BE(0);
        if (index < bulk.length && bulkSeen[index]!++ === 0) bulkGot[index] = Uint8Array.from(m);
        check();
      });
      b.on("message", (_c, m) => {
        streamGot.push(Uint8Array.from(m));
        check();
      });
    });

    const sender = (async () => {
      let next = 0;
      for (let i = 0; i < bulk.length; i++) {
        if (next < stream.length && i % 2 === 0) ca.sendMessage(stream[next++]!);
        if (!ca.sendBulk(bulk[i]!)) await once(a, "drain");
      }
      while (next < stream.length) ca.sendMessage(stream[next++]!);
    })();

    const fuzzer = new Fuzzer(20261126, captured);
    const fired = { a: 0, b: 0, stranger: 0 };
    // Datagrams the endpoints have read and rejected so far (real traffic adds a handful).
    const examined = () => {
      const sa = a.stats();
      const sb = b.stats();
      return sa.strangers + sa.malformed + sa.ignored + sb.malformed + sb.ignored;
    };
    const start = performance.now();
    for (let n = 0; n < FUZZ_DATAGRAMS; n++) {
      const datagram = fuzzer.next();
      if (n % 3 === 0) {
        stranger.send(datagram, A.port, A.host);
        fired.stranger++;
      } else if (n % 3 === 1) {
        fa.send(datagram, A.port, A.host);
        fired.a++;
      } else {
        fb.send(datagram, B.port, B.host);
        fired.b++;
      }
      if (n % 100 === 99) {
        const due = start + (n + 1) / 20;
        await (performance.now() < due ? sleep(due - performance.now()) : yieldToLoop());
        // Never run more than a few hundred datagrams ahead of the endpoints, however loaded the
        // machine is: beyond that the kernel drops them at a full socket buffer, unexamined.
        while (n + 1 - examined() > 600 && performance.now() - start < 40_000) await sleep(1);
      }
    }

    await sender;
    await transferred;
    await sleep(100);
    const statsA = a.stats();
    const statsB = b.stats();
    assert.deepEqual(downs, [], "no connection was lost");
    assert.equal(sha256(streamGot), sha256(stream), "stream messages byte-exact and in order");
    assert.equal(streamGot.length, stream.length);
    assert.deepEqual([...bulkSeen], new Array(bulk.length).fill(1), "every bulk message exactly once");
    assert.equal(sha256(bulkGot), sha256(bulk), "bulk messages byte-exact");
    // The junk was really read and rejected, by the right check (the kernel may drop a few).
    const seen = [
      [statsA.strangers, fired.stranger],
      [statsA.malformed + statsA.ignored, fired.a],
      [statsB.malformed + statsB.ignored, fired.b],
    ];
    for (const [count, sent] of seen) assert.ok(count! > 0.9 * sent!, JSON.stringify(seen));

    // Still healthy afterwards, in both directions.
    const echo = once(a, "message");
    b.connections()[0]!.sendMessage(Buffer.from("still here"));
    assert.equal(Buffer.from((await echo)[1] as Uint8Array).toString(), "still here");
  });
});
