import assert from "node:assert/strict";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Relay, type SocketAddress, startRelay } from "../../helpers/relay.js";

interface Received {
  data: Buffer;
  from: RemoteInfo;
}

async function endpoint(host: string, port: number): Promise<{ socket: Socket; inbox: Received[] }> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
  const inbox: Received[] = [];
  socket.on("message", (data, from) => inbox.push({ data, from }));
  await new Promise<void>((resolve) => socket.bind(port, host, resolve));
  return { socket, inbox };
}

function send(socket: Socket, to: SocketAddress, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(data, to.port, to.host, (err) => (err ? reject(err) : resolve())),
  );
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for datagrams");
    await sleep(5);
  }
}

// Ports 21000–21999 belong to this file; a random base keeps parallel runs apart.
const base = 21000 + Math.floor(Math.random() * 250) * 4;

describe("relay over real sockets", () => {
  let relay: Relay;
  let client: Awaited<ReturnType<typeof endpoint>>;
  let target: Awaited<ReturnType<typeof endpoint>>;

  before(async () => {
    client = await endpoint("127.0.0.12", base);
    target = await endpoint("127.0.0.13", base + 1);
    relay = await startRelay({
      a: { host: "127.0.0.10", port: base + 2 },
      b: { host: "127.0.0.11", port: base + 3 },
      target: { host: "127.0.0.13", port: base + 1 },
      seed: 5,
    });
  });

  after(async () => {
    await relay.close();
    client.socket.close();
    target.socket.close();
  });

  it("forwards both ways, each side seeing only the relay's address", async () => {
    await send(client.socket, relay.a, Buffer.from("ping"));
    await waitFor(() => target.inbox.length === 1);
    const ping = target.inbox.shift()!;
    assert.equal(ping.data.toString(), "ping");
    assert.deepEqual({ host: ping.from.address, port: ping.from.port }, relay.b);

    await send(target.socket, relay.b, Buffer.from("pong"));
    await waitFor(() => client.inbox.length === 1);
    const pong = client.inbox.shift()!;
    assert.equal(pong.data.toString(), "pong");
    assert.deepEqual({ host: pong.from.address, port: pong.from.port }, relay.a);

    const stats = relay.stats();
    assert.equal(stats.aToB.forwarded, 1);
    assert.equal(stats.bToA.forwarded, 1);
  });

  it("ignores datagrams reaching side B from anyone but the target", async () => {
    const before = relay.stats().strangers;
    await send(client.socket, relay.b, Buffer.from("sneak"));
    await waitFor(() => relay.stats().strangers === before + 1);
    await sleep(20);
    assert.equal(client.inbox.length, 0);
    assert.equal(target.inbox.length, 0);
  });

  it("drops everything during an on-demand blackout, then forwards again", async () => {
    relay.blackout(150);
    for (let i = 0; i < 20; i++) await send(client.socket, relay.a, Buffer.from([i]));
    await sleep(200);
    assert.equal(target.inbox.length, 0);
    assert.equal(relay.stats().aToB.blackedOut, 20);
    await send(client.socket, relay.a, Buffer.from("after"));
    await waitFor(() => target.inbox.length === 1);
    assert.equal(target.inbox.shift()!.data.toString(), "after");
  });

  it("applies conditions per direction", async () => {
    relay.setConditions({ corrupt: 1 }, "bToA");
    const payload = Buffer.alloc(256, 0x5a);
    await send(client.socket, relay.a, payload);
    await send(target.socket, relay.b, payload);
    await waitFor(() => target.inbox.length === 1 && client.inbox.length === 1);
    assert.deepEqual(target.inbox.shift()!.data, payload);
    assert.notDeepEqual(client.inbox.shift()!.data, payload);
    relay.setConditions({ corrupt: 0 });
  });

  it("applies the configured loss to a paced stream", async () => {
    relay.setConditions({ loss: 0.25 }, "aToB");
    const start = relay.stats().aToB;
    for (let i = 0; i < 400; i++) {
      await send(client.socket, relay.a, Buffer.from([i & 0xff]));
      if (i % 50 === 49) await sleep(2);
    }
    await waitFor(() => relay.stats().aToB.received === start.received + 400);
    const dropped = relay.stats().aToB.dropped - start.dropped;
    await waitFor(() => target.inbox.length === 400 - dropped);
    assert.ok(dropped > 60 && dropped < 140, `dropped ${dropped}`);
    relay.setConditions({ loss: 0 });
  });
});

describe("relay start-up", () => {
  it("rejects a port that is taken and releases the one it did bind", async () => {
    const blocker = await endpoint("127.0.0.11", base + 5);
    const opts = {
      a: { host: "127.0.0.10", port: base + 4 },
      b: { host: "127.0.0.11", port: base + 5 },
      target: { host: "127.0.0.13", port: base + 6 },
    };
    await assert.rejects(startRelay(opts), /EADDRINUSE/);
    blocker.socket.close();
    const relay = await startRelay(opts);
    await relay.close();
  });

  it("refuses host names, whose lookup would defer every datagram", async () => {
    await assert.rejects(
      startRelay({
        a: { host: "localhost", port: base + 4 },
        b: { host: "127.0.0.11", port: base + 5 },
        target: { host: "127.0.0.13", port: base + 6 },
      }),
      RangeError,
    );
  });

  it("refuses probabilities outside [0, 1]", async () => {
    await assert.rejects(
      startRelay({
        a: { host: "127.0.0.10", port: base + 4 },
        b: { host: "127.0.0.11", port: base + 5 },
        target: { host: "127.0.0.13", port: base + 6 },
        loss: 2,
      }),
      RangeError,
    );
  });
});
