import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { initHasher } from "../../../src/pipeline/hash.js";
import { BlockPool, HashError } from "../../../src/pipeline/pool.js";
import { Assembler, TMP_DIR } from "../../../src/sync/assembler.js";
import { ByteBudget } from "../../../src/sync/budget.js";
import { DiskSpace } from "../../../src/sync/disk-space.js";
import { BlockFetcher } from "../../../src/sync/fetcher.js";
import { RecycleBin } from "../../../src/sync/recycle.js";
import { runBytes } from "../../../src/sync/run.js";
import { systemClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { servingPeer } from "./fakes.js";
import { DEV_A, DEV_B, describeBytes, fileDigest } from "./fixtures.js";

describe("Assembler runs", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-assembler-"));
  await mkdir(join(root, TMP_DIR), { recursive: true });
  const db = IndexDb.open(root);
  const recycle = new RecycleBin(root, systemClock);
  const pool = await BlockPool.open({ threads: 1 });
  const fetcher = new BlockFetcher(systemClock, 10_000);
  const log = memoryLogger();
  const options = {
    dir: root,
    db,
    recycle,
    fetcher,
    budget: new ByteBudget(1 << 20),
    digestOf: fileDigest,
    digester: pool,
    clock: systemClock,
    log,
    space: new DiskSpace(root, async () => Number.MAX_SAFE_INTEGER),
  };
  const assembler = new Assembler(options);
  /** Local runs copied by the pool's threads instead of read and written by the assembler itself. */
  const copying = new Assembler({ ...options, copier: pool });
  before(async () => {
    await initHasher();
    await recycle.open();
  });
  after(async () => {
    recycle.close();
    db.close();
    await pool.close();
    await rm(root, { recursive: true, force: true });
  });

  it("fetches remote blocks in runs, and redoes a run with a bad block block by block", async () => {
    const data = randomBytes(300_000);
    const target = describeBytes("new.bin", data, { [DEV_A]: 1 });
    let spoiled = false;
    const { peer, asked } = servingPeer(fetcher, data, (req, bytes) => {
      if (spoiled || req.blocks.length < 2) return bytes;
      spoiled = true;
      bytes[req.blocks[0]!.size] ^= 1; // the run's second block
      return bytes;
    });
    const done = await assembler.assemble(target, () => [peer]);
    assert.ok(done.ok);
    assert.deepEqual(await readFile(done.tmpPath), data);
    const runs = asked.filter((r) => r.blocks.length > 1);
    assert.ok(runs.length >= 1 && runs.length < target.blocks.length / 2, `${runs.length} runs`);
    const first = runs[0]!;
    const singles = asked.filter((r) => r.blocks.length === 1 && r.offset >= first.offset);
    assert.ok(singles.length >= first.blocks.length, "the spoiled run was asked again block by block");
    assert.ok(log.records.some((r) => r.event === "pull.bad_block"));
  });

  /** Assembles `target` with one peer serving `data` (the target's bytes); returns the bytes fetched. */
  async function pull(asm: Assembler, target: FileInfo, data: Uint8Array): Promise<number> {
    const { peer, asked } = servingPeer(fetcher, data);
    const done = await asm.assemble(target, () => [peer]);
    assert.ok(done.ok);
    assert.deepEqual(await readFile(done.tmpPath), Buffer.from(data));
    return asked.reduce((n, r) => n + runBytes(r.blocks), 0);
  }

  for (const [how, asm] of [
    ["read here", assembler],
    ["copied by the pool", copying],
  ] as const) {
    it(`copies blocks it has locally in runs (${how}), shifted by an insertion, and fetches only the rest`, async () => {
      const old = randomBytes(400_000);
      await writeFile(join(root, "doc.bin"), old);
      db.putLocal(describeBytes("doc.bin", old, { [DEV_B]: 1 }), null);
      const data = Buffer.concat([randomBytes(100), old]);
      const fetched = await pull(asm, describeBytes("doc.bin", data, { [DEV_A]: 1, [DEV_B]: 1 }), data);
      assert.ok(fetched < 20_000, `only the changed start was fetched: ${fetched} bytes`);
    });

    it(`fetches the blocks a local file no longer has as indexed (${how})`, async () => {
      const old = randomBytes(400_000);
      db.putLocal(describeBytes("stale.bin", old, { [DEV_B]: 1 }), null);
      const changed = Buffer.from(old);
      changed.fill(7, 150_000, 160_000);
      await writeFile(join(root, "stale.bin"), changed);
      const fetched = await pull(asm, describeBytes("stale.bin", old, { [DEV_A]: 1, [DEV_B]: 1 }), old);
      assert.ok(
        fetched > 0 && fetched < 60_000,
        `only the blocks that changed were fetched: ${fetched} bytes`,
      );
    });
  }

  it("a copy that cannot be written (disk full) fails the attempt as an I/O error, logged in words", async () => {
    const old = randomBytes(400_000);
    await writeFile(join(root, "full.bin"), old);
    db.putLocal(describeBytes("full.bin", old, { [DEV_B]: 1 }), null);
    const full = new Assembler({
      ...options,
      copier: {
        copyBlocks: async () => {
          throw new HashError("ENOSPC", "no space left on device");
        },
      },
    });
    const data = Buffer.concat([old, randomBytes(10)]);
    const target = describeBytes("full.bin", data, { [DEV_A]: 1, [DEV_B]: 1 });
    const { peer } = servingPeer(fetcher, data);
    const done = await full.assemble(target, () => [peer]);
    assert.deepEqual(done, { ok: false, reason: "io" });
    assert.ok(log.records.some((r) => r.event === "pull.io_error" && /ENOSPC/.test(r.message)));
  });
});
