/**
 * One end of a transport benchmark, run as its own process by benchmarks/transport.ts:
 * `node transport-peer.js '<PeerConfig JSON>'`, driven over the IPC channel (see transport-ipc.ts).
 * UDP ends use the real Endpoint; TCP ends are the node:net baseline moving the same stream.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { pskSecurity } from "../src/crypto/psk.js";
import { Endpoint } from "../src/transport/endpoint.js";
import { plaintextSecurity } from "../src/transport/plaintext.js";
import { allocBulk, type Connection, releaseBulk } from "../src/transport/types.js";
import { createLogger } from "../src/util/log.js";
import type { FromPeer, PeerConfig, ToPeer } from "./transport-ipc.js";
import {
  MessageCollector,
  SourceStream,
  StreamCollector,
  TCP_WRITE_BYTES,
  wallClockMs,
} from "./transport-payload.js";

function post(msg: FromPeer): void {
  process.send?.(msg);
}

let cpuAtUp = process.cpuUsage();

/** Connected and ready: CPU time counts from here. */
function up(): void {
  cpuAtUp = process.cpuUsage();
  post({ type: "up" });
}

function done(digest: string | null, endpoint: Endpoint | null, conn: Connection | null): void {
  const cpu = process.cpuUsage(cpuAtUp);
  post({
    type: "done",
    digest,
    cpuMs: (cpu.user + cpu.system) / 1000,
    endpoint: endpoint?.stats() ?? null,
    connection: conn?.stats() ?? null,
  });
}

function fail(message: string): never {
  post({ type: "error", message });
  process.exit(1);
}

const commands: ToPeer["type"][] = [];
let commandArrived: (() => void) | null = null;
process.on("message", (msg: ToPeer) => {
  commands.push(msg.type);
  commandArrived?.();
});
// The orchestrator died or gave up: nothing left to do.
process.on("disconnect", () => process.exit(0));

async function command(type: ToPeer["type"]): Promise<void> {
  for (;;) {
    const next = commands.shift();
    if (next === type) return;
    if (next !== undefined) fail(`expected "${type}", got "${next}"`);
    await new Promise<void>((resolve) => {
      commandArrived = resolve;
    });
    commandArrived = null;
  }
}

/** `over` tells when losing the peer is no longer a failure (the transfer is over, the other end left). */
async function openEndpoint(
  config: PeerConfig,
  over: () => boolean,
): Promise<{ endpoint: Endpoint; conn: Connection }> {
  const endpoint = await Endpoint.open({
    bind: config.bind.host,
    port: config.bind.port,
    peers: [config.peer],
    deviceId: randomBytes(16),
    packetSize: config.packetSize,
    window: config.window,
    security:
      config.masterKey === null ? plaintextSecurity : pskSecurity(Buffer.from(config.masterKey, "hex")),
    log: createLogger({ format: "text", level: "warn" }),
  });
  const [conn] = (await once(endpoint, "peerUp")) as [Connection];
  endpoint.on("peerDown", (_conn, reason) => {
    if (!over()) fail(`${config.role}: peer down: ${reason}`);
  });
  return { endpoint, conn };
}

async function udpSend(config: PeerConfig): Promise<void> {
  const stream = new SourceStream(config.size);
  const digest = stream.digest();
  let finished = false;
  const { endpoint, conn } = await openEndpoint(config, () => finished);
  up();
  await command("go");
  const startedAt = wallClockMs();
  for (let i = 0; i < stream.messageCount; i++) {
    const msg = stream.message(i, allocBulk);
    const more = conn.sendBulk(msg);
    // The transport holds the buffer itself until the message is acknowledged.
    releaseBulk(msg);
    if (!more) await once(endpoint, "drain");
  }
  post({ type: "sent", startedAt, digest });
  await command("finish");
  finished = true;
  done(null, endpoint, conn);
  await endpoint.close();
}

async function udpReceive(config: PeerConfig): Promise<void> {
  const collector = new MessageCollector(config.size);
  const { endpoint, conn } = await openEndpoint(config, () => collector.complete);
  endpoint.on("bulk", (_conn, msg) => {
    const wasComplete = collector.complete;
    collector.add(msg);
    releaseBulk(msg);
    if (collector.complete && !wasComplete) {
      post({
        type: "received",
        endedAt: wallClockMs(),
        bytes: config.size,
        duplicates: collector.duplicates,
        malformed: collector.malformed,
      });
    }
  });
  up();
  await command("finish");
  done(collector.digest(), endpoint, conn);
  await endpoint.close();
}

async function tcpSend(config: PeerConfig): Promise<void> {
  const stream = new SourceStream(config.size);
  const digest = stream.digest();
  const socket = connect({
    host: config.peer.host,
    port: config.peer.port,
    localAddress: config.bind.host,
    localPort: config.bind.port,
  });
  socket.on("error", (err) => fail(`tcp-send: ${err.message}`));
  await once(socket, "connect");
  up();
  await command("go");
  const startedAt = wallClockMs();
  for (let offset = 0; offset < stream.size; offset += TCP_WRITE_BYTES) {
    if (!socket.write(stream.slice(offset, Math.min(TCP_WRITE_BYTES, stream.size - offset)))) {
      await once(socket, "drain");
    }
  }
  post({ type: "sent", startedAt, digest });
  await command("finish");
  socket.end();
  done(null, null, null);
}

async function tcpReceive(config: PeerConfig): Promise<void> {
  const collector = new StreamCollector(config.size);
  const server = createServer((socket: Socket) => {
    socket.on("data", (chunk: Buffer) => {
      if (!collector.add(chunk)) fail(`tcp-recv: more than the ${config.size} bytes expected`);
      if (collector.complete) {
        post({
          type: "received",
          endedAt: wallClockMs(),
          bytes: collector.bytes,
          duplicates: 0,
          malformed: 0,
        });
      }
    });
    socket.on("error", (err) => fail(`tcp-recv: ${err.message}`));
  });
  server.on("error", (err) => fail(`tcp-recv: ${err.message}`));
  server.listen(config.bind.port, config.bind.host);
  await once(server, "listening");
  up();
  await command("finish");
  done(collector.digest(), null, null);
  server.close();
}

const roles = { "udp-send": udpSend, "udp-recv": udpReceive, "tcp-send": tcpSend, "tcp-recv": tcpReceive };

const config = JSON.parse(process.argv[2] ?? "{}") as PeerConfig;
const run = roles[config.role];
if (run === undefined) fail(`unknown role ${String(config.role)}`);
run(config).then(
  () => process.exit(0),
  (err: unknown) => fail(`${config.role}: ${err instanceof Error ? err.message : String(err)}`),
);
