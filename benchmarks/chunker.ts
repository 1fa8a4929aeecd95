/**
 * Micro-benchmark of the content-defined chunker on one thread, in memory:
 *
 *   node dist/benchmarks/chunker.js [--size-mib 256] [--block-size 1048576] [--runs 5]
 *
 * - scan: scanCandidates over the buffer in 8 MiB segments, each warmed up on the 31 bytes before it,
 *   as the segment tasks of BlockPool.hashFile do;
 * - chunkBuffer: whole 16 MiB "files" (the largest that hashFile reads whole);
 * - JS loop: rollHash, the plain JavaScript rolling loop with no candidate test, for scale.
 *
 * The buffer is pseudo-random but fixed (xorshift32), so the candidate and block checksums printed are
 * comparable across versions: a different checksum means different cut points. Best of --runs, in MB/s
 * (10^6 bytes per second); the machine's other load shows as spread between runs.
 */
import { parseArgs } from "node:util";
import {
  type BlockRange,
  type Candidates,
  chunkBuffer,
  cutMasks,
  GEAR_WARMUP,
  rollHash,
  scanCandidates,
} from "../src/pipeline/chunker.js";
import { chunkParams } from "../src/pipeline/types.js";

const MiB = 1 << 20;
const SEGMENT = 8 * MiB;
const WHOLE_FILE = 16 * MiB;

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, got "${text}"`);
    process.exit(2);
  }
  return n;
}

function noise(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Int32Array(out.buffer, 0, size >>> 2);
  let x = 0x4c454654;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return out;
}

/** FNV-1a over 32-bit values, printed in hex. */
function checksum(values: Iterable<number>): string {
  let h = 0x811c9dc5;
  for (const v of values) h = Math.imul(h ^ v, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Best time of `runs` calls of fn, in seconds, and its last result. */
function best<T>(runs: number, fn: () => T): { seconds: number; result: T } {
  let seconds = Number.POSITIVE_INFINITY;
  let result = fn();
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = fn();
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return { seconds, result };
}

function report(label: string, bytes: number, seconds: number, detail: string): void {
  console.log(`${label.padEnd(12)} ${(bytes / 1e6 / seconds).toFixed(0).padStart(6)} MB/s  ${detail}`);
}

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "256" },
    "block-size": { type: "string", default: String(MiB) },
    runs: { type: "string", default: "5" },
  },
});
const size = positiveInt("size-mib", values["size-mib"]) * MiB;
const params = chunkParams(positiveInt("block-size", values["block-size"]));
const runs = positiveInt("runs", values.runs);
const masks = cutMasks(params);
const data = noise(size);
console.log(`${size / MiB} MiB, min ${params.min} avg ${params.avg} max ${params.max}, best of ${runs}`);

const scan = best(runs, () => {
  const out: Candidates = { ends: [], strong: [] };
  for (let start = 0; start < size; start += SEGMENT) {
    const from = Math.max(0, start - GEAR_WARMUP);
    const h = rollHash(data, from, start, 0);
    scanCandidates(data, start, Math.min(size, start + SEGMENT), h, masks, 0, out);
  }
  return out;
});
const strong = scan.result.strong.filter((s) => s).length;
report(
  "scan",
  size,
  scan.seconds,
  `${scan.result.ends.length} candidates (${strong} strong), checksum ${checksum(scan.result.ends)}`,
);

const whole = best(runs, () => {
  const blocks: BlockRange[] = [];
  for (let start = 0; start < size; start += WHOLE_FILE) {
    blocks.push(...chunkBuffer(data.subarray(start, Math.min(size, start + WHOLE_FILE)), params));
  }
  return blocks;
});
report(
  "chunkBuffer",
  size,
  whole.seconds,
  `${whole.result.length} blocks, checksum ${checksum(whole.result.map((b) => b.size))}`,
);

const loop = best(runs, () => rollHash(data, 0, size, 0));
report("JS loop", size, loop.seconds, `hash ${(loop.result >>> 0).toString(16)}`);
