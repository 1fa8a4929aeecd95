/**
 * Who may talk to a `left` daemon, black-box: peers with different keys, a peer with a key against one
 * without, and a stranger (an address not in --ip) sending valid INIT packets. Each case is checked by
 * its outcome — no connection in status.json, no file arrives, no reply datagram — as well as by the
 * log line that tells the user why.
 *
 *   A (127.0.3.2) ⇄ B (127.0.3.3)          wrong key, encryption mismatch
 *   C (127.0.3.4), configured peer 127.0.3.5:port (a test socket), strangers 127.0.3.6:port and
 *   127.0.3.5:port+1
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Endpoint } from "../../src/transport/endpoint.js";
import { plaintextSecurity } from "../../src/transport/plaintext.js";
import { memoryLogger } from "../../src/util/log.js";
import { DecodeError } from "../../src/wire/errors.js";
import { encodeHandshake, NONCE_SIZE, SESSION_ID_SIZE } from "../../src/wire/handshake.js";
import { decodeHeader, PacketType } from "../../src/wire/header.js";
import { freePort, LeftProcess, waitFor, writeRandomFile } from "../helpers/procs.js";

const MiB = 1024 * 1024;
/** What a refused handshake costs on the wire in a few seconds: INITs, INIT_ACKs and CLOSEs only. */
const HANDSHAKE_ONLY_BYTES = 64 * 1024;
/** Time for a connection to form and a 1 MiB file to cross, had the peers accepted each other. */
const SETTLE_MS = 2000;

const A_HOST = "127.0.3.2";
const B_HOST = "127.0.3.3";
const C_HOST = "127.0.3.4";
/** C's configured peer: a socket of this test. */
const PEER_HOST = "127.0.3.5";
const STRANGER_HOST = "127.0.3.6";

/**
 * The datagram an honest peer sends first: an INIT without a key. Its device and session ids are all
 * zeros, the lowest possible: when both sides dial, the lower one stays initiator and the daemon (which
 * dials its configured peer too) answers, as the simultaneous-open rule says (PROTOCOL.md).
 */
function initPacket(connectionId: number): Uint8Array {
  return encodeHandshake(PacketType.Init, 0, 0, {
    deviceId: new Uint8Array(16),
    sessionId: new Uint8Array(SESSION_ID_SIZE),
    nonce: randomBytes(NONCE_SIZE),
    connectionId,
    capabilities: 0,
    encrypted: false,
    maxPacketSize: 32000,
    proof: new Uint8Array(0),
  });
}

function bind(host: string, port: number): Promise<Socket> {
  const socket = createSocket("udp4");
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => resolve(socket));
  });
}

function linesMatching(proc: LeftProcess, re: RegExp): string[] {
  return proc
    .log()
    .split("\n")
    .filter((line) => re.test(line));
}

describe("security: which peers a daemon accepts", { timeout: 90_000 }, () => {
  let root = "";
  let port = 0;
  const running: LeftProcess[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-security-peers-"));
    port = await freePort([A_HOST, B_HOST, C_HOST, PEER_HOST, STRANGER_HOST]);
    await writeFile(join(root, "key-a"), "correct horse battery staple\n");
    await writeFile(join(root, "key-b"), "incorrect horse battery staple\n");
  });

  after(async () => {
    await Promise.all(running.map((p) => p.kill()));
    await rm(root, { recursive: true, force: true });
  });

  /**
   * A with a 1 MiB file and B with an empty share, started with the given extra arguments and stopped
   * when the test ends (the next pair uses the same addresses).
   */
  async function pair(t: TestContext, name: string, argsA: string[], argsB: string[]) {
    const make = (side: string, host: string, peer: string, args: string[]) =>
      new LeftProcess({
        name: `${name}-${side}`,
        dir: join(root, name, side),
        host,
        port,
        peers: [`${peer}:${port}`],
        args: ["--log-level", "debug", ...args],
      });
    const A = make("A", A_HOST, B_HOST, argsA);
    const B = make("B", B_HOST, A_HOST, argsB);
    await writeRandomFile(join(A.dir, "secret.bin"), MiB);
    running.push(A.start(), B.start());
    t.after(() => Promise.all([A.kill(), B.kill()]));
    return { A, B };
  }

  /** Neither side connected, the file did not cross, and only handshake-sized traffic arrived. */
  async function assertNothingFlowed(A: LeftProcess, B: LeftProcess): Promise<void> {
    await sleep(SETTLE_MS);
    assert.ok(A.running && B.running, `${A.describe()}\n${B.describe()}`);
    await assert.rejects(stat(join(B.dir, "secret.bin")), { code: "ENOENT" });
    for (const p of [A, B]) {
      const s = await p.status();
      assert.ok(s !== null, `${p.opts.name} writes status.json`);
      assert.deepEqual(
        s.peers.map((peer) => peer.connected),
        [false],
        `${p.opts.name}: no connection`,
      );
      assert.equal(s.inSync, false);
      assert.ok(
        s.wire.bytesReceived < HANDSHAKE_ONLY_BYTES,
        `${p.opts.name} received ${s.wire.bytesReceived} bytes: more than a handshake`,
      );
    }
  }

  it("with different keys, each side logs one 'wrong key' line and no index or data flows", async (t) => {
    const { A, B } = await pair(
      t,
      "wrong-key",
      ["--key-file", join(root, "key-a")],
      ["--key-file", join(root, "key-b")],
    );
    // The side that checks the peer's proof says "peer X: wrong key"; it tells the other side with a
    // CLOSE, which logs "peer X refused the handshake: wrong key". Which side checks depends on the
    // random device ids (the lower one initiates).
    const about = (proc: LeftProcess, peerHost: string) =>
      linesMatching(
        proc,
        new RegExp(`peer ${peerHost.replaceAll(".", "\\.")}:${port}(:| refused the handshake:) wrong key`),
      );
    await waitFor(
      "both sides to report the wrong key",
      () => about(A, B_HOST).length > 0 && about(B, A_HOST).length > 0,
      20_000,
    );
    await assertNothingFlowed(A, B);
    assert.equal(about(A, B_HOST).length, 1, A.log());
    assert.equal(about(B, A_HOST).length, 1, B.log());
    const verifiers = [A, B].filter((p) => linesMatching(p, /peer [\d.]+:\d+: wrong key/).length === 1);
    assert.equal(verifiers.length, 1, "exactly one side checked a proof and refused it");
  });

  it("with a key on one side only, both refuse with 'encryption mismatch' and nothing flows in plaintext", async (t) => {
    const { A, B } = await pair(
      t,
      "mismatch",
      ["--encryption", "yes", "--key-file", join(root, "key-a")],
      [],
    );
    await waitFor(
      "both sides to report the mismatch",
      () =>
        linesMatching(
          A,
          new RegExp(`peer ${B_HOST}:${port}: encryption mismatch \\(we use a key, the peer has none\\)`),
        ).length > 0 &&
        linesMatching(
          B,
          new RegExp(`peer ${A_HOST}:${port}: encryption mismatch \\(we have no key, the peer uses one\\)`),
        ).length > 0,
      20_000,
    );
    await assertNothingFlowed(A, B);
  });

  it("drops a stranger's valid INITs unanswered, and answers the same INIT from the configured address", async () => {
    const C = new LeftProcess({
      name: "C",
      dir: join(root, "C"),
      host: C_HOST,
      port,
      peers: [`${PEER_HOST}:${port}`],
    });
    running.push(C.start());
    await waitFor("C up", async () => (await C.status()) !== null, 10_000);
    // An unlisted address, and the listed address with another port: both are strangers.
    const strangers = [await bind(STRANGER_HOST, port), await bind(PEER_HOST, port + 1)];
    const peer = await bind(PEER_HOST, port);
    /** Packet types received per socket (-1: not a LEFT datagram). */
    const heard = new Map<Socket, number[]>();
    for (const s of [...strangers, peer]) {
      heard.set(s, []);
      s.on("message", (msg) => {
        const h = decodeHeader(msg);
        heard.get(s)!.push(h instanceof DecodeError ? -1 : h.type);
      });
    }
    try {
      for (let i = 1; i <= 20; i++) {
        for (const s of strangers) s.send(initPacket(i), port, C_HOST);
        await sleep(50);
      }
      peer.send(initPacket(1000), port, C_HOST);
      await waitFor(
        "C to answer the configured address",
        () => heard.get(peer)!.includes(PacketType.InitAck),
        5000,
        20,
      );
      await sleep(500);
      for (const s of strangers)
        assert.deepEqual(heard.get(s), [], `${s.address().address}:${s.address().port} got an answer`);
      const logged = linesMatching(C, /dropping datagrams from 127\.0\.3\.6:\d+: not a configured peer/);
      assert.equal(logged.length, 1, "one line per stranger address, not one per datagram");
    } finally {
      for (const s of [...strangers, peer]) s.close();
    }
  });

  it("counts a stranger's datagrams and never decodes them (endpoint statistics)", async () => {
    const endpoint = await Endpoint.open({
      bind: C_HOST,
      port: port + 2,
      peers: [{ host: PEER_HOST, port: port + 2 }],
      deviceId: randomBytes(16),
      packetSize: 32000,
      window: 64,
      security: plaintextSecurity,
      log: memoryLogger(),
    });
    const stranger = await bind(STRANGER_HOST, port + 2);
    let answers = 0;
    stranger.on("message", () => answers++);
    try {
      for (let i = 1; i <= 50; i++) stranger.send(i % 2 ? initPacket(i) : randomBytes(100), port + 2, C_HOST);
      await waitFor("all 50 counted", () => endpoint.stats().strangers === 50, 5000, 10);
      assert.equal(endpoint.stats().malformed, 0, "not decoded: a stranger's garbage is not 'malformed'");
      await sleep(200);
      assert.equal(answers, 0);
    } finally {
      stranger.close();
      await endpoint.close();
    }
  });
});
