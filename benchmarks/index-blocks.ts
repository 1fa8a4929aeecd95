/**
 * Main-thread cost of storing and reading one big block list in the index:
 *
 *   node dist/benchmarks/index-blocks.js [--blocks 16384,1048576] [--runs 7]
 *
 * - codec: JSON.stringify / JSON.parse (the index's format up to schema 1) against encodeBlockList /
 *   decodeBlockList (schema 2), in memory;
 * - sqlite: the same two formats through scratch tables (one TEXT, one BLOB column), write then read of
 *   one row, as the index's statements do;
 * - IndexDb: putRemote / getRemote and putLocal / getLocal of one entry (putLocal also maintains
 *   local_blocks, one row per block).
 *
 * Blocks are 64 KiB with distinct pseudo-random hashes. The formats alternate within each run so that the
 * machine's other load falls on both alike; the minimum and median of --runs are printed, in ms.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { decodeBlockList, encodeBlockList } from "../src/index/block-list.js";
import { IndexDb } from "../src/index/db.js";
import type { BlockInfo, FileInfo } from "../src/index/types.js";

const { values } = parseArgs({
  options: {
    blocks: { type: "string", default: "16384,1048576" },
    runs: { type: "string", default: "7" },
  },
});
const counts = values.blocks.split(",").map(Number);
const runs = Number(values.runs);

function blockList(count: number): BlockInfo[] {
  const blocks: BlockInfo[] = new Array(count);
  let x = 0x9e3779b9;
  const word = () => {
    // xorshift32: fixed, distinct-looking hashes without the cost of hashing data.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0).toString(16).padStart(8, "0");
  };
  for (let i = 0; i < count; i++) blocks[i] = { offset: i * 65536, size: 65536, hash: word() + word() };
  return blocks;
}

class Series {
  readonly samples = new Map<string, number[]>();

  /** Runs fn, recording how long it took under `name`. */
  time<T>(name: string, fn: () => T): T {
    const start = performance.now();
    const result = fn();
    const ms = performance.now() - start;
    const list = this.samples.get(name) ?? [];
    list.push(ms);
    this.samples.set(name, list);
    return result;
  }

  print(title: string): void {
    console.log(title);
    for (const [name, list] of this.samples) {
      const sorted = [...list].sort((a, b) => a - b);
      const median = sorted[sorted.length >> 1] ?? Number.NaN;
      console.log(`  ${name.padEnd(28)} min ${fmt(sorted[0] ?? Number.NaN)}  median ${fmt(median)}`);
    }
  }
}

function fmt(ms: number): string {
  return `${ms.toFixed(ms < 10 ? 2 : 1).padStart(8)} ms`;
}

function entry(path: string, blocks: BlockInfo[]): Omit<FileInfo, "sequence"> {
  const last = blocks[blocks.length - 1];
  return {
    path,
    type: "file",
    size: last ? last.offset + last.size : 0,
    mtimeMs: 1,
    mode: 0o644,
    deleted: false,
    version: { bench: 1 },
    modifiedBy: "bench",
    blocks,
    digest: "d".repeat(64),
    target: "",
  };
}

for (const count of counts) {
  const blocks = blockList(count);
  const dir = mkdtempSync(join(tmpdir(), "left-index-blocks-"));
  try {
    const scratch = new Database(join(dir, "scratch.db"));
    scratch.pragma("journal_mode = WAL");
    scratch.pragma("synchronous = NORMAL");
    // One table per format: a row holding both would rewrite the other's bytes on every store.
    scratch.exec(`CREATE TABLE json (id INTEGER PRIMARY KEY, v TEXT) STRICT;
      CREATE TABLE bin (id INTEGER PRIMARY KEY, v BLOB) STRICT;
      INSERT INTO json VALUES (1, '[]'); INSERT INTO bin VALUES (1, x'');`);
    const writeJson = scratch.prepare<[string]>("UPDATE json SET v = ? WHERE id = 1");
    const writeBin = scratch.prepare<[Buffer]>("UPDATE bin SET v = ? WHERE id = 1");
    const readJson = scratch.prepare<[], { v: string }>("SELECT v FROM json WHERE id = 1");
    const readBin = scratch.prepare<[], { v: Buffer }>("SELECT v FROM bin WHERE id = 1");
    const db = IndexDb.open(dir);

    const codec = new Series();
    const sqlite = new Series();
    const index = new Series();
    let json = "";
    let bin: Buffer = Buffer.alloc(0);
    for (let run = 0; run < runs; run++) {
      json = codec.time("JSON.stringify", () => JSON.stringify(blocks));
      bin = codec.time("encodeBlockList", () => encodeBlockList(blocks));
      codec.time("JSON.parse", () => JSON.parse(json));
      codec.time("decodeBlockList", () => decodeBlockList(bin));

      sqlite.time("JSON text: store", () => writeJson.run(JSON.stringify(blocks)));
      sqlite.time("BLOB: store", () => writeBin.run(encodeBlockList(blocks)));
      sqlite.time("JSON text: read", () => JSON.parse(readJson.get()?.v ?? ""));
      sqlite.time("BLOB: read", () => decodeBlockList(readBin.get()?.v ?? Buffer.alloc(0)));

      const remote = { ...entry("big", blocks), sequence: run + 1 };
      index.time("putRemote", () => db.putRemote("peer", [remote]));
      index.time("getRemote", () => db.getRemote("peer", "big"));
      index.time("putLocal", () => db.putLocal(entry("big", blocks), null));
      index.time("getLocal", () => db.getLocal("big"));
    }
    db.close();
    scratch.close();

    console.log(`\n${count} blocks: JSON ${json.length} B, binary ${bin.length} B; ${runs} runs`);
    codec.print(" codec (memory only)");
    sqlite.print(" one row through SQLite");
    index.print(" IndexDb, one entry");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
