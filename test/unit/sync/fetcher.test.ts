import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ByteBudget } from "../../../src/sync/budget.js";
import { BlockFetcher, type FetchResult } from "../../../src/sync/fetcher.js";
import { decodeMessage, MessageType, type Request, ResponseStatus } from "../../../src/sync/protocol.js";
import { FakeClock } from "../../../src/util/clock.js";
import { RecordingConn } from "./fakes.js";
import { DEV_A, DEV_B, digestOf } from "./fixtures.js";

const block = {
  path: "f",
  digest: digestOf("f"),
  offset: 0,
  blocks: [
    { size: 60, hash: "0011223344556677" },
    { size: 40, hash: "8899aabbccddeeff" },
  ],
};

function lastRequest(conn: RecordingConn): Request {
  const m = decodeMessage(conn.messages[conn.messages.length - 1]!);
  assert.ok(!("kind" in m) && m.type === MessageType.Request);
  return m;
}

describe("BlockFetcher", () => {
  it("matches responses to requests and ignores late, unknown or misdirected ones", async () => {
    const fetcher = new BlockFetcher(new FakeClock(), 1000);
    const a = new RecordingConn("a:1", DEV_A);
    const b = new RecordingConn("b:1", DEV_B);
    const p = fetcher.fetch([a], block);
    const req = lastRequest(a);
    assert.deepEqual(
      { ...req, type: undefined, reqId: undefined },
      { ...block, type: undefined, reqId: undefined },
    );
    const data = new Uint8Array(100).fill(1);
    fetcher.onResponse(b, { type: MessageType.Response, reqId: req.reqId, status: ResponseStatus.Ok, data });
    fetcher.onResponse(a, {
      type: MessageType.Response,
      reqId: req.reqId + 1,
      status: ResponseStatus.Ok,
      data,
    });
    assert.equal(fetcher.pendingCount, 1);
    fetcher.onResponse(a, { type: MessageType.Response, reqId: req.reqId, status: ResponseStatus.Ok, data });
    assert.deepEqual(await p, { ok: true, data, compressed: false, device: DEV_A });
    assert.equal(fetcher.pendingCount, 0);
  });

  it("spreads requests by outstanding bytes", () => {
    const fetcher = new BlockFetcher(new FakeClock(), 1000);
    const a = new RecordingConn("a:1", DEV_A);
    const b = new RecordingConn("b:1", DEV_B);
    for (let i = 0; i < 6; i++) void fetcher.fetch([a, b], block);
    assert.equal(a.messages.length, 3);
    assert.equal(b.messages.length, 3);
  });

  it("times out a peer only when it answers nothing for the whole timeout", async () => {
    const clock = new FakeClock();
    const fetcher = new BlockFetcher(clock, 1000);
    const a = new RecordingConn("a:1", DEV_A);
    const first = fetcher.fetch([a], block);
    const firstId = lastRequest(a).reqId;
    const second = fetcher.fetch([a], block);
    clock.advance(800);
    const data = new Uint8Array(100);
    fetcher.onResponse(a, { type: MessageType.Response, reqId: firstId, status: ResponseStatus.Ok, data });
    assert.equal((await first).ok, true);
    clock.advance(800);
    assert.equal(fetcher.pendingCount, 1, "a peer making progress is not timed out");
    clock.advance(200);
    assert.deepEqual(await second, { ok: false, reason: "timeout", device: DEV_A });
  });

  it("fails requests on timeout, peer down, close, and when no source is connected", async () => {
    const clock = new FakeClock();
    const fetcher = new BlockFetcher(clock, 1000);
    const a = new RecordingConn("a:1", DEV_A);
    const b = new RecordingConn("b:1", DEV_B);
    const timedOut = fetcher.fetch([a], block);
    clock.advance(1000);
    assert.deepEqual(await timedOut, { ok: false, reason: "timeout", device: DEV_A });
    const down = fetcher.fetch([b], block);
    fetcher.peerDown(DEV_B);
    assert.deepEqual(await down, { ok: false, reason: "peer-down", device: DEV_B });
    assert.deepEqual(await fetcher.fetch([], block), { ok: false, reason: "no-source", device: "" });
    const pending = fetcher.fetch([a], block);
    fetcher.close();
    const results: FetchResult[] = [await pending, await fetcher.fetch([a], block)];
    for (const r of results) assert.equal(r.ok ? "ok" : r.reason, "closed");
  });
});

describe("ByteBudget", () => {
  it("admits requests in order within the limit, and an oversized one alone", async () => {
    const budget = new ByteBudget(100);
    const order: string[] = [];
    await budget.acquire(60);
    const second = budget.acquire(60).then(() => order.push("60"));
    const third = budget.acquire(10).then(() => order.push("10"));
    await Promise.resolve();
    assert.deepEqual(order, [], "FIFO: the small one waits behind the large one");
    budget.release(60);
    await Promise.all([second, third]);
    assert.deepEqual(order, ["60", "10"]);
    assert.equal(budget.inUse, 70);
    budget.release(70);
    await budget.acquire(500);
    assert.equal(budget.inUse, 500);
  });
});
