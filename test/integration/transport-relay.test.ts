/**
 * The transport end to end through the lossy relay: byte-exact delivery under loss, duplication,
 * reordering, corruption and a blackout; and dead-peer detection and recovery across a long blackout.
 *
 *   X (127.0.0.20) ⇄ relay A (127.0.0.21) ⇄ relay B (127.0.0.22) ⇄ Y (127.0.0.23)
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Endpoint } from "../../src/transport/endpoint.js";
import { defaultPacketSize } from "../../src/transport/packet-size.js";
import { plaintextSecurity } from "../../src/transport/plaintext.js";
import type { Connection, PeerAddress } from "../../src/transport/types.js";
import { type LogLevel, memoryLogger } from "../../src/util/log.js";
import { type Relay, type RelayOptions, startRelay } from "../helpers/relay.js";

interface Pair {
  x: Endpoint;
  y: Endpoint;
  relay: Relay;
  /** Resolves with each side's connection once both are up. */
  up(): Promise<[Connection, Connection]>;
  close(): Promise<void>;
  /** The endpoints' warnings and errors, for failure messages. */
  problems(): string;
}

const MiB = 1024 * 1024;

// Ports 22000–22999 belong to this file; each pair takes four from a random slot, and moves on to the
// next slot if another process (binding 0.0.0.0) holds one of them.
let nextSlot = Math.floor(Math.random() * 250);
const PORT_ATTEMPTS = 5;

async function openPair(
  conditions: Omit<RelayOptions, "a" | "b" | "target">,
  idleTimeoutMs?: number,
): Promise<Pair> {
  for (let attempt = 1; ; attempt++) {
    const base = 22000 + (nextSlot++ % 250) * 4;
    try {
      return await openPairAt(base, conditions, idleTimeoutMs);
    } catch (err) {
      if (attempt === PORT_ATTEMPTS || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
}

async function openPairAt(
  base: number,
  conditions: Omit<RelayOptions, "a" | "b" | "target">,
  idleTimeoutMs: number | undefined,
): Promise<Pair> {
  const xAddr = { host: "127.0.0.20", port: base };
  const yAddr = { host: "127.0.0.23", port: base + 3 };
  const relay = await startRelay({
    ...conditions,
    a: { host: "127.0.0.21", port: base + 1 },
    b: { host: "127.0.0.22", port: base + 2 },
    target: yAddr,
  });
  const logs = [memoryLogger(), memoryLogger()];
  const packetSize = defaultPacketSize(yAddr.host);
  const open = (self: PeerAddress, peer: PeerAddress, i: number) =>
    Endpoint.open({
      bind: self.host,
      port: self.port,
      peers: [peer],
      deviceId: randomBytes(16),
      packetSize,
      // The daemon's default: 8 MiB in flight.
      window: Math.ceil((8 * MiB) / packetSize),
      security: plaintextSecurity,
      log: logs[i]!,
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    });
  const opened: { close(): Promise<void> }[] = [relay];
  try {
    const x = await open(xAddr, relay.a, 0);
    opened.push(x);
    const y = await open(yAddr, relay.b, 1);
    return {
      x,
      y,
      relay,
      up: () => Promise.all([nextUp(x), nextUp(y)]),
      async close() {
        await Promise.all([x.close(), y.close()]);
        await relay.close();
      },
      problems() {
        const serious = new Set<LogLevel>(["warn", "error"]);
        return logs
          .flatMap((log, i) =>
            log.records.filter((r) => serious.has(r.level)).map((r) => `${"XY"[i]}: ${r.message}`),
          )
          .slice(-20)
          .join("\n");
      },
    };
  } catch (err) {
    await Promise.all(opened.map((o) => o.close()));
    throw err;
  }
}

async function nextUp(endpoint: Endpoint): Promise<Connection> {
  const [conn] = await once(endpoint, "peerUp");
  return conn as Connection;
}

describe("transport through the lossy relay", () => {
  it("moves 64 MiB byte-exact under loss, duplication, reordering, corruption and a blackout", {
    timeout: 120_000,
  }, async () => {
    const pair = await openPair({
      seed: 20261126,
      loss: 0.1,
      duplicate: 0.05,
      reorder: 0.1,
      corrupt: 0.01,
    });
    try {
      const [cx] = await pair.up();
      const blocks = 64;
      const source = randomBytes(blocks * MiB);
      const received = Buffer.alloc(blocks * MiB);
      const deliveries = new Uint8Array(blocks);
      const controls: number[] = [];
      let receivedBytes = 0;
      let blackoutAt = -1;

      const done = new Promise<void>((resolve, reject) => {
        const check = () => {
          if (controls.length === blocks && deliveries.every((n) => n > 0)) resolve();
        };
        pair.y.on("bulk", (_conn, msg) => {
          const index = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(0);
          if (msg.length !== 4 + MiB || index >= blocks)
            return reject(new Error(`bad bulk message ${index}`));
          if (deliveries[index]++ === 0) received.set(msg.subarray(4), index * MiB);
          receivedBytes += MiB;
          // Black out mid-transfer, whatever speed the transport reaches.
          if (blackoutAt < 0 && receivedBytes >= 16 * MiB) {
            blackoutAt = performance.now();
            pair.relay.blackout(2000);
          }
          check();
        });
        pair.y.on("message", (_conn, msg) => {
          controls.push(controlIndex(msg));
          check();
        });
        pair.y.on("peerDown", (_conn, reason) => reject(new Error(`receiver lost the peer: ${reason}`)));
        pair.x.on("peerDown", (_conn, reason) => reject(new Error(`sender lost the peer: ${reason}`)));
      });

      for (let i = 0; i < blocks; i++) {
        const msg = Buffer.allocUnsafe(4 + MiB);
        msg.writeUInt32BE(i, 0);
        source.copy(msg, 4, i * MiB, (i + 1) * MiB);
        const more = cx.sendBulk(msg);
        cx.sendMessage(controlMessage(i));
        if (!more) await once(pair.x, "drain");
      }
      await done.catch((err: Error) => {
        throw new Error(`${err.message}\n${pair.problems()}`);
      });
      // Late duplicates would arrive within a few RTTs.
      await sleep(200);

      assert.deepEqual([...deliveries], new Array(blocks).fill(1), "every bulk message exactly once");
      assert.deepEqual(
        controls,
        Array.from({ length: blocks }, (_, i) => i),
        "control messages in order",
      );
      assert.equal(sha256(received), sha256(source));

      // The run must really have been impaired, or it proves nothing.
      assert.ok(blackoutAt > 0, "blackout happened mid-transfer");
      const relay = pair.relay.stats();
      for (const link of [relay.aToB, relay.bToA]) {
        assert.ok(link.dropped > 0 && link.duplicated > 0 && link.reordered > 0, JSON.stringify(link));
      }
      // The sender keeps probing through the blackout; the receiver may well stay silent.
      assert.ok(relay.aToB.blackedOut > 0 && relay.aToB.corrupted > 0, JSON.stringify(relay.aToB));
      assert.ok(pair.x.stats().packetsRetransmitted > 0);
      assert.ok(pair.y.stats().malformed > 0, "corrupted datagrams were detected and dropped");
    } finally {
      await pair.close();
    }
  });

  it("declares the peer down during a long blackout and reconnects after it", {
    timeout: 30_000,
  }, async () => {
    const idleTimeoutMs = 1000;
    const pair = await openPair({ seed: 7 }, idleTimeoutMs);
    try {
      await pair.up();
      const start = performance.now();
      const downs = Promise.all([once(pair.x, "peerDown"), once(pair.y, "peerDown")]);
      pair.relay.blackout(3000);
      const [[, xReason], [, yReason]] = await downs;
      const downAfter = performance.now() - start;
      assert.ok(downAfter >= idleTimeoutMs * 0.9 && downAfter < 3000, `peerDown after ${downAfter} ms`);
      assert.equal(typeof xReason, "string");
      assert.equal(typeof yReason, "string");

      const [cx, cy] = await pair.up();
      assert.ok(performance.now() - start >= 3000, "no connection while the relay was dark");
      assert.ok(cx.open && cy.open);

      const toY = once(pair.y, "message");
      const toX = once(pair.x, "bulk");
      cx.sendMessage(Buffer.from("hello after the blackout"));
      cy.sendBulk(Buffer.from("and back"));
      const [[, atY], [, atX]] = await Promise.all([toY, toX]);
      assert.equal(Buffer.from(atY as Uint8Array).toString(), "hello after the blackout");
      assert.equal(Buffer.from(atX as Uint8Array).toString(), "and back");
    } finally {
      await pair.close();
    }
  });
});

/** Control messages vary in size (up to several packets) so that reassembly order is exercised too. */
function controlMessage(i: number): Uint8Array {
  const msg = Buffer.alloc(8 + ((i * 7919) % 100_000));
  msg.writeUInt32BE(i, 0);
  msg.writeUInt32BE(msg.length, 4);
  msg.fill(i & 0xff, 8);
  return msg;
}

function controlIndex(msg: Uint8Array): number {
  const view = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const i = view.readUInt32BE(0);
  const intact = view.readUInt32BE(4) === view.length && view.subarray(8).every((b) => b === (i & 0xff));
  return intact ? i : -1;
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
