import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { lstat, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { StatRecord } from "../../../src/index/types.js";
import { initHasher } from "../../../src/pipeline/hash.js";
import { decompressBlock } from "../../../src/sync/compress.js";
import {
  decodeMessage,
  MessageType,
  type Request,
  type Response,
  ResponseStatus,
} from "../../../src/sync/protocol.js";
import { BlockServer } from "../../../src/sync/server.js";
import { systemClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { RecordingConn } from "./fakes.js";
import { DEV_A, describeBytes } from "./fixtures.js";

await initHasher();

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), "condition not reached");
}

function response(bytes: Uint8Array): Response {
  const m = decodeMessage(bytes);
  assert.ok(!("kind" in m) && m.type === MessageType.Response);
  return m;
}

describe("BlockServer", async () => {
  const dir = await mkdtemp(join(tmpdir(), "left-server-"));
  const db = IndexDb.open(dir);
  const data = randomBytes(40_000);
  const info = describeBytes("f.bin", data, { [DEV_A]: 1 });
  const server = new BlockServer({ dir, db, log: memoryLogger(), clock: systemClock, compress: "off" });
  let reqId = 0;
  const ask = (conn: RecordingConn, over: Partial<Request> = {}) => {
    const b = info.blocks[1]!;
    server.handle(conn, {
      type: MessageType.Request,
      reqId: ++reqId,
      path: "f.bin",
      digest: info.digest,
      offset: b.offset,
      blocks: [b],
      ...over,
    });
    return reqId;
  };
  const wrongHash = { blocks: [{ size: info.blocks[1]!.size, hash: "0123456789abcdef" }] };

  before(async () => {
    await writeFile(join(dir, "f.bin"), data);
    const st = await lstat(join(dir, "f.bin"));
    const stat: StatRecord = {
      path: "f.bin",
      type: "file",
      size: st.size,
      mtimeMs: st.mtimeMs,
      mode: 0o644,
      ino: st.ino,
      target: "",
    };
    db.putLocal(info, stat);
    assert.ok(info.blocks.length > 2, "the test file spans several blocks");
  });
  after(async () => {
    server.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves an indexed block, verified, with the request's id", async () => {
    const conn = new RecordingConn("p:1", DEV_A);
    const id = ask(conn);
    await until(() => conn.bulk.length === 1);
    const r = response(conn.bulk[0]!);
    const b = info.blocks[1]!;
    assert.equal(r.reqId, id);
    assert.equal(r.status, ResponseStatus.Ok);
    assert.deepEqual(Buffer.from(r.data), data.subarray(b.offset, b.offset + b.size));
  });

  it("answers Unavailable for unknown content, hostile paths, and bytes that changed on disk", async () => {
    const conn = new RecordingConn("p:1", DEV_A);
    ask(conn, wrongHash);
    ask(conn, { path: "../../etc/passwd", ...wrongHash });
    ask(conn, { path: ".left/index.db", ...wrongHash });
    await until(() => conn.bulk.length === 3);
    for (const m of conn.bulk) assert.equal(response(m).status, ResponseStatus.Unavailable);

    const changed = Buffer.from(data);
    changed.fill(7, info.blocks[1]!.offset, info.blocks[1]!.offset + 10);
    await writeFile(join(dir, "f.bin"), changed);
    ask(conn);
    await until(() => conn.bulk.length === 4);
    assert.equal(response(conn.bulk[3]!).status, ResponseStatus.Unavailable);
    await writeFile(join(dir, "f.bin"), data);
  });

  it("serves a run of consecutive blocks as one response, only from the requested version", async () => {
    const conn = new RecordingConn("p:4", DEV_A);
    const run = info.blocks.slice(1, 3);
    const end = run[1]!.offset + run[1]!.size;
    const ids = [
      ask(conn, { blocks: run }),
      // Another version of the file: a run is never looked for elsewhere, a single block is.
      ask(conn, { blocks: run, digest: "ab".repeat(32) }),
      ask(conn, { digest: "ab".repeat(32) }),
      // One block of the run does not match: the whole run is refused, the peer asks block by block.
      ask(conn, { blocks: [run[0]!, { size: run[1]!.size, hash: "0123456789abcdef" }] }),
    ];
    await until(() => conn.bulk.length === 4);
    // Reads run concurrently: answers come in any order.
    const byId = new Map(conn.bulk.map(response).map((r) => [r.reqId, r]));
    const [whole, otherVersion, single, halfBad] = ids.map((id) => byId.get(id));
    assert.equal(whole!.status, ResponseStatus.Ok);
    assert.deepEqual(Buffer.from(whole!.data), data.subarray(run[0]!.offset, end));
    assert.equal(otherVersion!.status, ResponseStatus.Unavailable);
    assert.equal(single!.status, ResponseStatus.Ok);
    assert.deepEqual(Buffer.from(single!.data), data.subarray(run[0]!.offset, run[1]!.offset));
    assert.equal(halfBad!.status, ResponseStatus.Unavailable);
  });

  it("does not read through a symlink placed where an indexed file was", async () => {
    const outside = await mkdtemp(join(tmpdir(), "left-outside-"));
    after(() => rm(outside, { recursive: true, force: true }));
    await writeFile(join(outside, "secret"), data);
    await rm(join(dir, "f.bin"));
    await symlink(join(outside, "secret"), join(dir, "f.bin"));
    const conn = new RecordingConn("p:2", DEV_A);
    ask(conn);
    await until(() => conn.bulk.length === 1);
    assert.equal(response(conn.bulk[0]!).status, ResponseStatus.Unavailable);
    await rm(join(dir, "f.bin"));
    await writeFile(join(dir, "f.bin"), data);
  });

  it("stops sending while the transport is above its high-water mark, resumes on drain", async () => {
    const conn = new RecordingConn("p:3", DEV_A);
    conn.bulkAccepts = false;
    for (let i = 0; i < 20; i++) ask(conn);
    await until(() => conn.bulk.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    const whileBlocked = conn.bulk.length;
    assert.ok(whileBlocked < 20, `sent ${whileBlocked} of 20 while blocked`);
    conn.bulkAccepts = true;
    server.drain(conn);
    await until(() => conn.bulk.length === 20);
  });

  it("answers Unavailable and logs when the index fails, without throwing", async () => {
    const log = memoryLogger();
    const failing = Object.assign(Object.create(db) as IndexDb, {
      findBlock(): never {
        throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
      },
    });
    const broken = new BlockServer({ dir, db: failing, log, clock: systemClock, compress: "off" });
    after(() => broken.close());
    const conn = new RecordingConn("p:6", DEV_A);
    // Another digest: the single block is looked for by hash, and the lookup fails.
    broken.handle(conn, {
      type: MessageType.Request,
      reqId: 77,
      path: "f.bin",
      digest: "ab".repeat(32),
      offset: 0,
      blocks: [info.blocks[0]!],
    });
    await until(() => conn.bulk.length === 1);
    assert.equal(response(conn.bulk[0]!).status, ResponseStatus.Unavailable);
    assert.ok(log.records.some((r) => r.event === "serve.failed"));
  });

  it("bounds the blocks queued per peer, not the requests: a full queue refuses, then recovers", async () => {
    const log = memoryLogger();
    const small = new BlockServer({
      dir,
      db,
      log,
      clock: systemClock,
      compress: "off",
      readsPerPeer: 1,
      maxQueuedBlocks: 4,
    });
    after(() => small.close());
    const conn = new RecordingConn("p:5", DEV_A);
    conn.bulkAccepts = false;
    const run = info.blocks.slice(0, 2);
    const ask2 = (id: number) =>
      small.handle(conn, {
        type: MessageType.Request,
        reqId: id,
        path: "f.bin",
        digest: info.digest,
        offset: 0,
        blocks: run,
      });
    ask2(1);
    await until(() => conn.bulk.length === 1);
    // Blocked by the transport: the next two requests (4 blocks) wait, the third does not fit.
    ask2(2);
    ask2(3);
    ask2(4);
    await until(() => conn.bulk.length === 2);
    assert.equal(response(conn.bulk[1]!).reqId, 4);
    assert.equal(response(conn.bulk[1]!).status, ResponseStatus.Unavailable);
    assert.ok(log.records.some((l) => l.event === "serve.overload"));
    conn.bulkAccepts = true;
    small.drain(conn);
    await until(() => conn.bulk.length === 4);
    const answered = conn.bulk.slice(2).map(response);
    assert.deepEqual(
      answered.map((r) => [r.reqId, r.status]),
      [
        [2, ResponseStatus.Ok],
        [3, ResponseStatus.Ok],
      ],
    );
  });
});

describe("BlockServer with --compress on", async () => {
  const dir = await mkdtemp(join(tmpdir(), "left-server-z-"));
  const db = IndexDb.open(dir);
  const text = Buffer.from("compressible text, compressible text\n".repeat(2000));
  const noise = randomBytes(20_000);
  const server = new BlockServer({ dir, db, log: memoryLogger(), clock: systemClock, compress: "on" });
  after(async () => {
    server.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends compressible blocks compressed and incompressible ones as they are", async () => {
    const conn = new RecordingConn("p:1", DEV_A);
    let reqId = 0;
    for (const [name, bytes] of [
      ["t.txt", text],
      ["n.bin", noise],
    ] as const) {
      await writeFile(join(dir, name), bytes);
      const info = describeBytes(name, bytes, { [DEV_A]: 1 });
      db.putLocal(info, null);
      const b = info.blocks[0]!;
      server.handle(conn, {
        type: MessageType.Request,
        reqId: ++reqId,
        path: name,
        digest: info.digest,
        offset: 0,
        blocks: [b],
      });
      await until(() => conn.bulk.length === reqId);
      const r = response(conn.bulk[reqId - 1]!);
      const original = bytes.subarray(0, b.size);
      if (name === "t.txt") {
        assert.equal(r.status, ResponseStatus.Compressed);
        assert.ok(r.data.byteLength < b.size / 4);
        assert.deepEqual(Buffer.from((await decompressBlock(r.data, b.size))!), original);
        assert.equal(
          await decompressBlock(r.data, b.size - 1),
          null,
          "output beyond the block size is refused",
        );
      } else {
        assert.equal(r.status, ResponseStatus.Ok);
        assert.deepEqual(Buffer.from(r.data), original);
      }
    }
  });
});
