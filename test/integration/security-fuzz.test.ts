/**
 * Hostile datagrams against live peers, through a tap that forwards between them and records what
 * they send:
 *
 *   X (127.0.4.2) ⇄ tap side TX (127.0.4.4) ⇄ tap side TY (127.0.4.5) ⇄ Y (127.0.4.3)
 *
 * X's configured peer is TX and Y's is TY, so whatever the test sends from the tap's sockets comes
 * from each side's configured peer address: it passes the address check and reaches the handshake
 * code, the AEAD and the connection with its live connection id.
 *
 * - Replays: sealed DATA datagrams of an encrypted session (in-process endpoints) are sent again; none
 *   is delivered twice, and one re-addressed to a later connection fails to open.
 * - Fuzz: two `left` daemons, with and without encryption, while files of a few MiB sync. A seeded
 *   generator fires random bytes, forged handshake packets and mutated or replayed copies of captured
 *   datagrams at both, before and after the handshake. The files must arrive byte-exact (SHA-256) and
 *   both daemons must keep running and answering.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { deriveMasterKey } from "../../src/crypto/key.js";
import { pskSecurity } from "../../src/crypto/psk.js";
import { Endpoint } from "../../src/transport/endpoint.js";
import type { Connection } from "../../src/transport/types.js";
import { memoryLogger } from "../../src/util/log.js";
import { DecodeError } from "../../src/wire/errors.js";
import {
  encodeClosePacket,
  encodeConfirm,
  encodeHandshake,
  NONCE_SIZE,
  SESSION_ID_SIZE,
} from "../../src/wire/handshake.js";
import { decodeHeader, HEADER_SIZE, PacketType } from "../../src/wire/header.js";
import { freePort, LeftProcess, waitFor, waitForSameTrees, writeRandomFile } from "../helpers/procs.js";
import { SeededRandom } from "../helpers/relay.js";

const MiB = 1024 * 1024;
const X_HOST = "127.0.4.2";
const Y_HOST = "127.0.4.3";
const TX_HOST = "127.0.4.4";
const TY_HOST = "127.0.4.5";
const SYNC_TIMEOUT_MS = 30_000;

function bind(host: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 * MiB, sendBufferSize: 4 * MiB });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => resolve(socket));
  });
}

interface Captured {
  /** Sent by X towards Y, or by Y towards X. */
  toY: boolean;
  data: Buffer;
}

/** The forwarder between X and Y. `onDatagram` sees every forwarded datagram first. */
class Tap {
  private constructor(
    private readonly tx: Socket,
    private readonly ty: Socket,
    private readonly port: number,
  ) {}

  static async open(port: number, onDatagram: (c: Captured) => void): Promise<Tap> {
    const tap = new Tap(await bind(TX_HOST, port), await bind(TY_HOST, port), port);
    tap.tx.on("message", (msg, rinfo) => {
      if (rinfo.address !== X_HOST || rinfo.port !== port) return;
      onDatagram({ toY: true, data: msg });
      tap.toY(msg);
    });
    tap.ty.on("message", (msg, rinfo) => {
      if (rinfo.address !== Y_HOST || rinfo.port !== port) return;
      onDatagram({ toY: false, data: msg });
      tap.toX(msg);
    });
    return tap;
  }

  /** Sends to Y from Y's configured peer address. */
  toY(data: Uint8Array): void {
    this.ty.send(data, this.port, Y_HOST);
  }

  /** Sends to X from X's configured peer address. */
  toX(data: Uint8Array): void {
    this.tx.send(data, this.port, X_HOST);
  }

  close(): void {
    this.tx.close();
    this.ty.close();
  }
}

function typeOf(datagram: Uint8Array): number {
  const h = decodeHeader(datagram);
  return h instanceof DecodeError ? -1 : h.type;
}

describe("security: replayed sealed DATA packets", { timeout: 30_000 }, () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it("are dropped before opening and never delivered twice; re-addressed to a later connection they fail to open", async () => {
    const port = await freePort([X_HOST, Y_HOST, TX_HOST, TY_HOST]);
    const security = pskSecurity(await deriveMasterKey(new TextEncoder().encode("replay test key")));
    const sealed: Buffer[] = [];
    const tap = await Tap.open(port, (c) => {
      if (c.toY && typeOf(c.data) === PacketType.Data) sealed.push(Buffer.from(c.data));
    });
    closers.push(() => tap.close());
    const open = (host: string, peer: string, deviceId: Uint8Array) =>
      Endpoint.open({
        bind: host,
        port,
        peers: [{ host: peer, port }],
        deviceId,
        packetSize: 32000,
        window: 64,
        security,
        log: memoryLogger(),
      });
    const xDevice = randomBytes(16);
    let x = await open(X_HOST, TX_HOST, xDevice);
    const y = await open(Y_HOST, TY_HOST, randomBytes(16));
    closers.push(() => y.close());
    const delivered: string[] = [];
    y.on("bulk", (_conn, msg) => delivered.push(Buffer.from(msg).toString("hex")));
    y.on("message", (_conn, msg) => delivered.push(Buffer.from(msg).toString("hex")));
    const up = (e: Endpoint) => new Promise<Connection>((resolve) => e.once("peerUp", resolve));

    let conn = await up(x);
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const msg = randomBytes(1000 + i * 1500);
      sent.push(msg.toString("hex"));
      if (i % 2 === 0) conn.sendBulk(msg);
      else conn.sendMessage(msg);
    }
    await waitFor("all 40 messages delivered", () => delivered.length === 40, 10_000, 10);
    await sleep(200);
    assert.deepEqual([...delivered].sort(), [...sent].sort());
    assert.ok(sealed.length >= 10, `captured ${sealed.length} sealed DATA packets`);

    const before = y.stats();
    for (const datagram of sealed) tap.toY(datagram);
    await waitFor(
      "every replay dropped as already received",
      () => y.stats().ignored - before.ignored >= sealed.length,
      5000,
      10,
    );
    await sleep(200);
    assert.equal(
      y.stats().ignored - before.ignored,
      sealed.length,
      "each replay dropped once, as a duplicate",
    );
    assert.equal(y.stats().malformed, before.malformed, "dropped before the AEAD: not even opened");
    assert.equal(delivered.length, 40, "nothing delivered twice");

    // A new connection (X restarts) has new keys. An old packet given the new connection id and a
    // packet number never used is a forgery to it.
    const old = sealed[sealed.length - 1]!;
    const captureFrom = sealed.length;
    await x.close();
    x = await open(X_HOST, TX_HOST, xDevice);
    closers.push(() => x.close());
    conn = await up(x);
    const hello = Buffer.from("after the restart");
    conn.sendMessage(hello);
    await waitFor("the new connection's message", () => delivered.includes(hello.toString("hex")), 5000, 10);
    // X's goodbye on the old connection was captured too: pick a packet that carries another id.
    const current = sealed.slice(captureFrom).find((d) => d.readUInt32BE(8) !== old.readUInt32BE(8));
    assert.ok(current !== undefined, "a packet of the new connection was captured");
    const forged = Buffer.from(old);
    current.copy(forged, 8, 8, 12);
    forged.writeUInt32BE(0x100, 12);
    const malformedBefore = y.stats().malformed;
    const deliveredBefore = delivered.length;
    tap.toY(forged);
    await waitFor("the forgery to be refused", () => y.stats().malformed === malformedBefore + 1, 5000, 10);
    await sleep(100);
    assert.equal(delivered.length, deliveredBefore, "the old packet's content was not delivered");
  });
});

/** Hostile datagrams from one seeded PRNG: random bytes, forged handshakes, mutated and replayed captures. */
class Fuzzer extends SeededRandom {
  readonly captured: Captured[] = [];
  sent = 0;
  /**
   * Whether to forge fresh, well-formed INITs and INIT_ACKs. Off while the peers shake hands: a steady
   * stream of them from a peer's address keeps replacing the pending handshake, so no connection could
   * form (docs/SECURITY.md, "Not protected"). Mutated and replayed handshake packets stay in.
   */
  forgeHandshakes = true;

  /** Keeps the first 256 datagrams (the handshake among them), then a random sample. */
  capture(c: Captured): void {
    const copy = { toY: c.toY, data: Buffer.from(c.data) };
    if (this.captured.length < 512) this.captured.push(copy);
    else this.captured[256 + this.int(256)] = copy;
  }

  /** Fires `count` datagrams, `perTurn` per event-loop turn, at one or both sides. */
  async fire(tap: Tap, count: number, targets: "y" | "both", perTurn = 40): Promise<void> {
    for (let i = 0; i < count; i++) {
      const datagram = this.next();
      if (targets === "y" || this.random() < 0.5) tap.toY(datagram);
      else tap.toX(datagram);
      this.sent++;
      if (i % perTurn === perTurn - 1) await sleep(5);
    }
  }

  private next(): Uint8Array {
    const kind = this.random();
    if (kind < 0.15 || this.captured.length === 0) {
      return kind < 0.05 || !this.forgeHandshakes ? this.bytes(this.int(1500)) : this.forgedHandshake();
    }
    const original = this.captured[this.int(this.captured.length)]!.data;
    // An exact copy: a replay.
    if (kind < 0.3) return original;
    return this.mutate(original);
  }

  /** A well-formed INIT, INIT_ACK, CONFIRM or CLOSE with random fields. */
  private forgedHandshake(): Uint8Array {
    const which = this.int(4);
    const cid = this.int(2 ** 32);
    if (which === 2) return encodeConfirm(cid, this.int(4), this.bytes(this.int(64)));
    if (which === 3) return encodeClosePacket(cid, this.bytes(this.int(40)).toString("latin1"));
    return encodeHandshake(which === 0 ? PacketType.Init : PacketType.InitAck, which === 0 ? 0 : cid, 0, {
      deviceId: this.bytes(16),
      sessionId: this.bytes(SESSION_ID_SIZE),
      nonce: this.bytes(NONCE_SIZE),
      connectionId: cid,
      capabilities: this.int(2 ** 32),
      encrypted: this.random() < 0.5,
      maxPacketSize: 1200 + this.int(64000),
      proof: this.bytes(this.random() < 0.5 ? 32 : this.int(100)),
    });
  }

  private mutate(original: Buffer): Buffer {
    // Long DATA packets are mostly cut short: the interesting bytes are the header and the first frames.
    let out = Buffer.from(
      original.length > 4096 && this.random() < 0.8 ? original.subarray(0, 4096) : original,
    );
    const edits = 1 + this.int(4);
    for (let e = 0; e < edits && out.length > 0; e++) {
      const at = this.int(out.length);
      switch (this.int(6)) {
        case 0:
          out[at] = out[at]! ^ (1 << this.int(8));
          break;
        case 1:
          out[at] = this.int(256);
          break;
        case 2:
          out = out.subarray(0, at);
          break;
        case 3:
          out = Buffer.concat([out, this.bytes(1 + this.int(64))]);
          break;
        case 4:
          // Packet number: a fresh one, far ahead, or an old one.
          if (out.length >= HEADER_SIZE) out.writeUInt32BE(this.int(2 ** 32), 12 + 4 * this.int(2));
          break;
        default:
          if (out.length >= HEADER_SIZE) out[3] = this.int(8);
      }
    }
    return out;
  }
}

describe("security: fuzzing live daemons", { timeout: 120_000 }, () => {
  let root = "";
  let port = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-security-fuzz-"));
    port = await freePort([X_HOST, Y_HOST, TX_HOST, TY_HOST]);
    await writeFile(join(root, "key"), randomBytes(32));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function run(t: TestContext, mode: "plain" | "encrypted", seed: number): Promise<void> {
    const fuzzer = new Fuzzer(seed);
    const tap = await Tap.open(port, (c) => fuzzer.capture(c));
    const args = ["--log-level", "warn", ...(mode === "encrypted" ? ["--key-file", join(root, "key")] : [])];
    const daemon = (name: string, host: string, peer: string) =>
      new LeftProcess({ name, dir: join(root, mode, name), host, port, peers: [`${peer}:${port}`], args });
    const X = daemon("X", X_HOST, TX_HOST);
    const Y = daemon("Y", Y_HOST, TY_HOST);
    t.after(async () => {
      await Promise.all([X.kill(), Y.kill()]);
      tap.close();
    });
    await writeRandomFile(join(X.dir, "first.bin"), 4 * MiB);

    // Before any handshake: Y alone, under forged handshakes and random bytes.
    Y.start();
    await waitFor("Y up", async () => (await Y.status()) !== null, 10_000);
    await fuzzer.fire(tap, 2000, "y");

    // During the handshake and the first transfer: mutations and replays of what the tap captures.
    fuzzer.forgeHandshakes = false;
    X.start();
    let transferring = true;
    const during = (async () => {
      while (transferring) await fuzzer.fire(tap, 400, "both");
    })();
    try {
      const connected = async (p: LeftProcess) => (await p.status())?.peers[0]?.connected === true;
      await waitFor(
        "X and Y connected",
        async () => (await connected(X)) && (await connected(Y)),
        SYNC_TIMEOUT_MS,
      );
      fuzzer.forgeHandshakes = true;
      await waitForSameTrees([X, Y], SYNC_TIMEOUT_MS);
      // And once connected: a second file, both ways, while the fuzzing goes on.
      await writeRandomFile(join(Y.dir, "second.bin"), 3 * MiB);
      await waitForSameTrees([X, Y], SYNC_TIMEOUT_MS);
    } finally {
      transferring = false;
      await during;
    }
    t.diagnostic(`${mode}: ${fuzzer.sent} hostile datagrams, ${fuzzer.captured.length} captured to mutate`);
    assert.ok(X.running && Y.running, `${X.describe()}\n${Y.describe()}`);

    // Still answering: a change after the fuzzing crosses, and both report being in sync.
    await writeFile(join(X.dir, "after.txt"), `still here (${mode})\n`);
    const trees = await waitForSameTrees([X, Y], SYNC_TIMEOUT_MS);
    assert.deepEqual([...trees.keys()], ["after.txt", "first.bin", "second.bin"]);
    await waitFor(
      "both in sync",
      async () => (await X.status())?.inSync === true && (await Y.status())?.inSync === true,
      10_000,
    );
  }

  it("without encryption: transfers complete byte-exact and both daemons keep running", (t) =>
    run(t, "plain", 1));
  it("with encryption: transfers complete byte-exact and both daemons keep running", (t) =>
    run(t, "encrypted", 2));
});
