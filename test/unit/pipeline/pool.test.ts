import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Blake3Hasher, blake3 } from "@napi-rs/blake-hash";
import fc from "fast-check";
import { chunkBuffer } from "../../../src/pipeline/chunker.js";
import { contentDigest } from "../../../src/pipeline/digest.js";
import { initHasher, xxh64Hex } from "../../../src/pipeline/hash.js";
import { BlockPool, HashError } from "../../../src/pipeline/pool.js";
import { type BlockTask, type FileResult, runTask } from "../../../src/pipeline/tasks.js";
import { type ChunkParams, chunkParams, type HashedFile } from "../../../src/pipeline/types.js";
import { noise } from "../../helpers/noise.js";

const dir = mkdtempSync(join(tmpdir(), "left-pool-"));
let pool: BlockPool;
/** Tiny limits so that modest files take the multi-task path with many segments and batches. */
let splitting: BlockPool;

before(async () => {
  await initHasher();
  pool = await BlockPool.open({ threads: 2 });
  splitting = await BlockPool.open({
    threads: 2,
    wholeFileLimit: 1000,
    segmentSize: 4099,
    blockBatchSize: 3000,
  });
});

after(async () => {
  await pool.close();
  await splitting.close();
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1 << 20;
/** The whole-file digest as docs/PROTOCOL.md defines it, written out apart from src/pipeline/digest.ts. */
function referenceDigest(bytes: Uint8Array): string {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length <= 8 * MiB) return blake3(data).toString("hex");
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(data.length));
  const tree = new Blake3Hasher().update(Buffer.from("LEFT tree digest v2\0", "latin1")).update(size);
  for (let at = 0; at < data.length; at += 8 * MiB) tree.update(blake3(data.subarray(at, at + 8 * MiB)));
  return tree.digest("hex");
}

function direct(data: Uint8Array, p: ChunkParams): HashedFile {
  return {
    size: data.length,
    blocks: chunkBuffer(data, p).map((b) => ({
      ...b,
      hash: xxh64Hex(data.subarray(b.offset, b.offset + b.size)),
    })),
    digest: referenceDigest(data),
  };
}

let counter = 0;
function writeTemp(data: Uint8Array): string {
  const path = join(dir, `f${counter++}`);
  writeFileSync(path, data);
  return path;
}

test("xxh64Hex matches the reference vectors", () => {
  assert.equal(xxh64Hex(new Uint8Array(0)), "ef46db3751d8e999");
  assert.equal(xxh64Hex(new TextEncoder().encode("abc")), "44bc2cf5ad770999");
});

test("hashFile equals the direct computation, on both the single-task and the split path", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 60_000 }),
      fc.integer({ min: 6, max: 11 }),
      async (size, log2) => {
        const data = createHash("shake256", { outputLength: size }).update(String(size)).digest();
        const path = writeTemp(data);
        const p = chunkParams(1 << log2);
        const expected = direct(data, p);
        assert.deepEqual(await pool.hashFile(path, p), expected);
        assert.deepEqual(await splitting.hashFile(path, p), expected);
      },
    ),
    { numRuns: 25 },
  );
});

test("a 24 MiB file split into default 8 MiB segments hashes like the direct computation", async () => {
  const data = createHash("shake256", { outputLength: (24 << 20) + 5 })
    .update("big")
    .digest();
  const path = writeTemp(data);
  const p = chunkParams(1 << 20);
  assert.deepEqual(await pool.hashFile(path, p), direct(data, p));
});

test("concurrent hashFile calls do not mix their results", async () => {
  const files = [1, 2, 3, 4, 5, 6].map((i) => {
    const data = createHash("shake256", { outputLength: 20_000 * i })
      .update(String(i))
      .digest();
    return { data, path: writeTemp(data) };
  });
  const p = chunkParams(512);
  const results = await Promise.all(files.map((f) => splitting.hashFile(f.path, p)));
  results.forEach((r, i) => {
    assert.deepEqual(r, direct(files[i].data, p));
  });
});

test("small files hashed in the same tick share tasks, each with its own result or error", async () => {
  const files = Array.from({ length: 150 }, (_, i) => {
    const data = createHash("shake256", { outputLength: i * 37 })
      .update(`small ${i}`)
      .digest();
    return { data, path: writeTemp(data) };
  });
  const p = chunkParams(256);
  const other = chunkParams(1024);
  const missing = assert.rejects(
    pool.hashFile(join(dir, "no-such-file"), p),
    (e) => e instanceof HashError && e.code === "ENOENT",
  );
  const results = await Promise.all(files.map((f, i) => pool.hashFile(f.path, i % 50 === 0 ? other : p)));
  results.forEach((r, i) => {
    assert.deepEqual(r, direct(files[i].data, i % 50 === 0 ? other : p));
  });
  await missing;
});

test("a coalesced task reports each file's failure separately", () => {
  const data = new Uint8Array([1, 2, 3]);
  const path = writeTemp(data);
  const result = runTask({
    kind: "files",
    files: [
      { path, size: 3 },
      { path: join(dir, "vanished"), size: 3 },
      { path, size: 4 },
    ],
    params: chunkParams(64),
  });
  assert.ok(result.ok);
  const [good, vanished, shrunk] = result.value as FileResult[];
  assert.deepEqual(good, { ok: true, value: direct(data, chunkParams(64)) });
  assert.equal(vanished.ok === false && vanished.code, "ENOENT");
  assert.equal(shrunk.ok === false && shrunk.code, "changed");
});

test("aborting stops hashing a big file early, and the pool stays usable", async () => {
  const data = createHash("shake256", { outputLength: 48 << 20 })
    .update("abort")
    .digest();
  const path = writeTemp(data);
  const p = chunkParams(1 << 20);
  const before = new AbortController();
  before.abort();
  await assert.rejects(
    pool.hashFile(path, p, before.signal),
    (e) => e instanceof HashError && e.code === "aborted",
  );

  const whole = performance.now();
  await pool.hashFile(path, p);
  const fullMs = performance.now() - whole;
  const during = new AbortController();
  const started = performance.now();
  const hashing = pool.hashFile(path, p, during.signal);
  setTimeout(() => during.abort(), 5);
  await assert.rejects(hashing, (e) => e instanceof HashError && e.code === "aborted");
  assert.ok(performance.now() - started < fullMs, "stopped before the end");
  assert.deepEqual(await pool.hashFile(path, p), direct(data, p));
});

test("digestFile is the whole-file digest alone: plain BLAKE3 up to 8 MiB, the segment tree above", async () => {
  for (const size of [0, 1, 70_000, (4 << 20) + 3, 8 * MiB, 8 * MiB + 1, 17 * MiB + 9]) {
    const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    const expected = referenceDigest(data);
    assert.equal(contentDigest(data), expected, `size ${size}`);
    assert.equal(await pool.digestFile(writeTemp(data)), expected, `size ${size}`);
  }
  // The BLAKE3 test vector for no input, as `b3sum` prints it.
  assert.equal(
    contentDigest(new Uint8Array(0)),
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
  );
  await assert.rejects(
    pool.digestFile(join(dir, "missing")),
    (e) => e instanceof HashError && e.code === "ENOENT",
  );
  mkdirSync(join(dir, "sha-dir"));
  await assert.rejects(
    pool.digestFile(join(dir, "sha-dir")),
    (e) => e instanceof HashError && e.code === "ENOTFILE",
  );
});

test("failures reject with a typed HashError", async () => {
  const p = chunkParams(1024);
  await assert.rejects(
    pool.hashFile(join(dir, "missing"), p),
    (e) => e instanceof HashError && e.code === "ENOENT",
  );
  mkdirSync(join(dir, "sub"));
  await assert.rejects(
    pool.hashFile(join(dir, "sub"), p),
    (e) => e instanceof HashError && e.code === "ENOTFILE",
  );
  await assert.rejects(pool.hashFile(writeTemp(new Uint8Array(10)), { min: 5, avg: 1, max: 2 }), RangeError);
});

test("a file shorter than when hashing started is reported as changed", async () => {
  const path = writeTemp(new Uint8Array(10));
  const tasks: BlockTask[] = [
    { kind: "segment", path, size: 100, index: 0 },
    { kind: "blocks", path, offsets: [0], sizes: [100] },
    { kind: "candidates", path, start: 0, end: 100, params: chunkParams(64) },
  ];
  for (const task of tasks) {
    const result = runTask(task);
    assert.equal(result.ok, false);
    assert.equal(result.ok === false && result.code, "changed");
  }
});

test("given the previous version, a changed file is re-hashed to the same result, digest included", async () => {
  const p = chunkParams(256);
  const before = noise(300_000, 3);
  const path = writeTemp(before);
  const prev = await splitting.hashFile(path, p);
  const edits = [
    Buffer.concat([before.subarray(0, 150_000), noise(2000, 4), before.subarray(152_000)]),
    Buffer.concat([before.subarray(0, 10), noise(100, 5), before.subarray(10)]),
  ];
  for (const edited of edits) {
    writeFileSync(path, edited);
    const again = await splitting.hashFile(path, p, undefined, () => prev);
    assert.deepEqual(again, await splitting.hashFile(path, p));
  }
});

test("copyBlocks writes the blocks whose bytes match their hash and names the others", async () => {
  const source = createHash("shake256", { outputLength: 30_000 }).update("copy").digest();
  const blocks = [0, 10_000, 20_000].map((offset) => ({
    offset,
    size: 10_000,
    hash: xxh64Hex(source.subarray(offset, offset + 10_000)),
  }));
  const from = openSync(writeTemp(source), "r");
  const toPath = writeTemp(new Uint8Array(40_000));
  const to = openSync(toPath, "r+");
  const readOnly = openSync(toPath, "r");
  try {
    const spoiled = [blocks[0]!, { ...blocks[1]!, hash: "0".repeat(16) }, blocks[2]!];
    assert.deepEqual(await pool.copyBlocks(from, 0, to, 5_000, spoiled), [1]);
    const copied = readFileSync(toPath);
    assert.deepEqual(copied.subarray(5_000, 15_000), source.subarray(0, 10_000));
    assert.ok(
      copied.subarray(15_000, 25_000).every((b) => b === 0),
      "a bad block is not written",
    );
    assert.deepEqual(copied.subarray(25_000, 35_000), source.subarray(20_000, 30_000));
    assert.deepEqual(await pool.copyBlocks(from, 20_000, to, 0, blocks), [0, 1, 2], "source too short");
    await assert.rejects(
      pool.copyBlocks(from, 0, readOnly, 0, blocks),
      (e) => e instanceof HashError && e.code === "EBADF",
    );
  } finally {
    for (const fd of [from, to, readOnly]) closeSync(fd);
  }
});
