/**
 * A peer that holds the key but sends hostile sync messages to a live `left` daemon: names that escape
 * the share or go through symlinks, a 1 TiB file, messages over the block limit, malformed messages and
 * requests for things that must not be served. The peer is an in-process Endpoint (the transport's
 * public API) speaking src/sync/protocol.ts by hand, so it can say anything a real peer could.
 *
 *   D (127.0.5.2, `left --key-file`) ⇄ hostile peer H (127.0.5.3, Endpoint with the same key)
 *
 * Outcomes checked: nothing is written outside the share or through a symlink, the huge file is refused
 * for lack of disk space without a tmp file, memory stays small, hostile requests get "unavailable",
 * and afterwards a valid file from the same peer still arrives byte-exact.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { deriveMasterKey } from "../../src/crypto/key.js";
import { pskSecurity } from "../../src/crypto/psk.js";
import type { FileInfo } from "../../src/index/types.js";
import { contentDigest } from "../../src/pipeline/digest.js";
import { initHasher, xxh64Hex } from "../../src/pipeline/hash.js";
import {
  decodeMessage,
  encodeHello,
  encodeIndex,
  encodeRequest,
  encodeResponse,
  MAX_BLOCK_BYTES,
  MAX_BLOCKS,
  MessageType,
  type Request,
  ResponseStatus,
} from "../../src/sync/protocol.js";
import { Endpoint } from "../../src/transport/endpoint.js";
import type { Connection } from "../../src/transport/types.js";
import { memoryLogger } from "../../src/util/log.js";
import { DecodeError } from "../../src/wire/errors.js";
import { freePort, LeftProcess, waitFor } from "../helpers/procs.js";

const D_HOST = "127.0.5.2";
const H_HOST = "127.0.5.3";
const KEY = "hostile peer test key";
const TiB = 1024 ** 4;
const MiB = 1024 * 1024;

await initHasher();

/** Hostile peer state: what it can serve, and what D answered to its own requests. */
class HostilePeer {
  readonly content = new Map<string, Uint8Array>();
  readonly answers = new Map<number, number>();
  private sequence = 0;

  constructor(
    /** The current connection to D (replaced when the transport reconnects). */
    public conn: Connection,
    readonly device: string,
  ) {}

  /** A live file entry for `data` (one block), announced by this peer. */
  file(path: string, data: Uint8Array, over: Partial<FileInfo> = {}): FileInfo {
    const hash = xxh64Hex(data);
    this.content.set(hash, data);
    return {
      path,
      type: "file",
      size: data.length,
      mtimeMs: Date.now(),
      mode: 0o644,
      deleted: false,
      version: { [this.device]: 1 },
      modifiedBy: this.device,
      sequence: ++this.sequence,
      blocks: data.length === 0 ? [] : [{ offset: 0, size: data.length, hash }],
      digest: contentDigest(data),
      target: "",
      ...over,
    };
  }

  link(path: string, target: string): FileInfo {
    return this.file(path, new Uint8Array(0), { type: "symlink", digest: "", target });
  }

  /** A file of `blocks` blocks of `blockSize` bytes that this peer does not really have. */
  huge(path: string, blocks: number, blockSize: number): FileInfo {
    return this.file(path, new Uint8Array(0), {
      size: blocks * blockSize,
      blocks: Array.from({ length: blocks }, (_, i) => ({
        offset: i * blockSize,
        size: blockSize,
        hash: i.toString(16).padStart(16, "0"),
      })),
      digest: "ab".repeat(32),
    });
  }

  announce(files: FileInfo[]): void {
    this.conn.sendMessage(encodeIndex(files, true));
  }

  /** Serves D's block requests from `content`. */
  onMessage(msg: Uint8Array): void {
    const m = decodeMessage(msg);
    if (m instanceof DecodeError || m.type !== MessageType.Request) return;
    const parts = m.blocks.map((b) => this.content.get(b.hash));
    const complete = parts.every((d, i) => d !== undefined && d.length === m.blocks[i]!.size);
    this.conn.sendBulk(
      complete
        ? encodeResponse(m.reqId, ResponseStatus.Ok, Buffer.concat(parts as Buffer[]))
        : encodeResponse(m.reqId, ResponseStatus.Unavailable, new Uint8Array(0)),
    );
  }

  onBulk(msg: Uint8Array): void {
    const m = decodeMessage(msg);
    if (!(m instanceof DecodeError) && m.type === MessageType.Response) this.answers.set(m.reqId, m.status);
  }
}

describe("security: a hostile peer that holds the key", { timeout: 90_000 }, () => {
  let root = "";
  let share = "";
  let outside = "";
  let D: LeftProcess;
  let endpoint: Endpoint;
  let H: HostilePeer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "left-hostile-"));
    share = join(root, "share");
    outside = join(root, "outside");
    await mkdir(share);
    await mkdir(outside);
    // A user's own link out of the share: the scanner does not sync it, and nothing may write through it.
    await symlink(outside, join(share, "out"));
    await writeFile(join(root, "key"), `${KEY}\n`);
    const port = await freePort([D_HOST, H_HOST]);
    D = new LeftProcess({
      name: "D",
      dir: share,
      host: D_HOST,
      port,
      peers: [`${H_HOST}:${port}`],
      args: ["--key-file", join(root, "key")],
    }).start();
    const device = randomBytes(16);
    endpoint = await Endpoint.open({
      bind: H_HOST,
      port,
      peers: [{ host: D_HOST, port }],
      deviceId: device,
      packetSize: 32000,
      window: 256,
      security: pskSecurity(await deriveMasterKey(new TextEncoder().encode(KEY))),
      log: memoryLogger(),
    });
    const conn = await new Promise<Connection>((resolve) => endpoint.once("peerUp", resolve));
    H = new HostilePeer(conn, device.toString("hex"));
    endpoint.on("peerUp", (c) => {
      H.conn = c;
    });
    endpoint.on("message", (_c, msg) => H.onMessage(msg));
    endpoint.on("bulk", (_c, msg) => H.onBulk(msg));
    conn.sendMessage(encodeHello(H.device, 0));
  });

  after(async () => {
    await D.kill();
    await endpoint?.close();
    await rm(root, { recursive: true, force: true });
  });

  const logged = (re: RegExp) =>
    D.log()
      .split("\n")
      .filter((l) => re.test(l));

  it("drops entries whose names escape the share, and never writes through a symlinked parent", async () => {
    const escapes = [
      "../escape.txt",
      "/abs.txt",
      "a/../../x.txt",
      "nul\0.txt",
      "back\\slash.txt",
      ".left/index.db",
      "a//b.txt",
    ];
    H.announce([
      ...escapes.map((p) => H.file(p, Buffer.from(`hostile ${p}`))),
      H.link("up", "../outside"),
      H.link("abs-link", outside),
      // A valid name on its own, but its parent on D is a symlink.
      H.file("out/evil.txt", Buffer.from("through the user's link")),
      H.link("self", "."),
    ]);
    await waitFor("9 entries refused by name", () => logged(/unacceptable entry/).length >= 9, 15_000);
    // Once the synced link exists, a file below it would be written through it.
    await waitFor(
      "the link 'self' created",
      async () => (await readlink(join(share, "self")).catch(() => "")) === ".",
      15_000,
    );
    H.announce([H.file("self/evil2.txt", Buffer.from("through a synced link"))]);
    await waitFor(
      "both writes through links refused",
      () => logged(/cannot pull yet: .* is a symlink/).length >= 2,
      15_000,
    );
    assert.deepEqual(await readdir(outside), [], "nothing written outside the share");
    await assert.rejects(lstat(join(root, "escape.txt")), { code: "ENOENT" });
    await assert.rejects(lstat(join(share, "evil2.txt")), { code: "ENOENT" });
    assert.equal(await readlink(join(share, "self")), ".", "the valid link itself is created");
  });

  it("refuses a 1 TiB file for lack of disk space, without a tmp file, and stays small", async () => {
    // 2^17 blocks of the largest size. A file of 2^20 blocks (the protocol's limit) costs seconds of
    // index work on D's main thread each time it is looked at (SYNC.md, limits); its decoding is
    // unit-tested in protocol.test.ts.
    const blocks = 2 ** 17;
    assert.equal(blocks * MAX_BLOCK_BYTES, TiB);
    H.announce([H.huge("huge.bin", blocks, MAX_BLOCK_BYTES)]);
    await waitFor(
      "the refusal",
      () => logged(/not enough free disk space: 1099511627776 bytes to write/).length === 1,
      20_000,
    );
    // 10 TB cannot even be described: 2^20 blocks of at most 8 MiB make 8 TiB.
    H.announce([H.file("ten-tb.bin", Buffer.from("x"), { size: 10e12 })]);
    await waitFor(
      "the 10 TB entry refused",
      () => logged(/path=ten-tb\.bin problem=blocks cover 1 of 10000000000000 bytes/).length === 1,
      10_000,
    );
    assert.deepEqual(await readdir(join(share, ".left", "tmp")), [], "no tmp file, not even a sparse one");
    const rss = await rssOf((await D.status())!.pid);
    assert.ok(rss < 1024 * MiB, `RSS ${Math.round(rss / MiB)} MiB`);
  });

  it("rejects messages over the limits and garbage, and answers hostile requests with 'unavailable'", async () => {
    const before = logged(/malformed sync message dropped/).length;
    // One block more than a message may carry, in two entries within the per-file limit.
    const half = MAX_BLOCKS / 2;
    const a = encodeIndex([H.huge("h1", half, 4096)], true);
    const b = encodeIndex([H.huge("h2", half + 1, 4096)], true);
    H.conn.sendMessage(
      Buffer.concat([Uint8Array.of(MessageType.Index, 1, 0, 2), a.subarray(4), b.subarray(4)]),
    );
    // 65535 entries announced, none present.
    H.conn.sendMessage(Uint8Array.of(MessageType.Index, 1, 0xff, 0xff));
    for (let i = 0; i < 20; i++) H.conn.sendMessage(randomBytes(1 + i * 50));
    for (let i = 0; i < 5; i++) H.conn.sendBulk(randomBytes(100));
    // Responses nobody asked for.
    H.conn.sendBulk(encodeResponse(123456, ResponseStatus.Ok, randomBytes(4096)));
    await waitFor(
      "the bad messages logged",
      () => logged(/malformed sync message dropped|wrong channel/).length >= before + 24,
      15_000,
    );

    const good = Buffer.from("a valid file\n");
    const info = H.file("good.txt", good);
    const ask = (reqId: number, over: Partial<Request>) =>
      H.conn.sendMessage(
        encodeRequest({
          reqId,
          path: "good.txt",
          digest: info.digest,
          offset: 0,
          blocks: [info.blocks[0]!],
          ...over,
        }),
      );
    const noSuchBlock = (size: number) => ({ blocks: [{ size, hash: "00".repeat(8) }] });
    H.announce([info]);
    await waitFor(
      "good.txt pulled",
      async () => (await readFile(join(share, "good.txt")).catch(() => null))?.equals(good) === true,
      15_000,
    );
    ask(1, {});
    ask(2, { path: "../outside/x", ...noSuchBlock(good.length) });
    ask(3, { path: ".left/index.db", ...noSuchBlock(4096) });
    // A claimed offset that does not hold the block: it is served from where D's index has it.
    ask(4, { offset: 2 ** 40 });
    ask(5, { blocks: [{ size: good.length - 1, hash: info.blocks[0]!.hash }] });
    // Above the block-size maximum: refused by the decoder, so never answered.
    const tooBig = Buffer.from(
      encodeRequest({
        reqId: 6,
        path: "good.txt",
        digest: info.digest,
        offset: 0,
        blocks: [{ size: 1, hash: info.blocks[0]!.hash }],
      }),
    );
    tooBig.writeUInt32BE(8 * MiB + 1, tooBig.length - 12);
    H.conn.sendMessage(tooBig);
    await waitFor("answers to the 5 valid requests", () => H.answers.size >= 5, 10_000, 20);
    assert.deepEqual(
      [...H.answers.entries()].sort((x, y) => x[0] - y[0]),
      [
        [1, ResponseStatus.Ok],
        [2, ResponseStatus.Unavailable],
        [3, ResponseStatus.Unavailable],
        [4, ResponseStatus.Ok],
        [5, ResponseStatus.Unavailable],
      ],
    );
    assert.ok(D.running, D.describe());
  });
});

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return Number(kb?.[1] ?? 0) * 1024;
}
