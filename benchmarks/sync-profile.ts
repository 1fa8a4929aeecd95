/**
 * Summarises the V8 CPU profiles that `npm run bench -- --cpu-prof DIR` makes the LEFT daemons write
 * (one file per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0 = main thread):
 *
 *   node dist/benchmarks/sync-profile.js DIR [--top 15] [--timeline 100]
 *
 * For each profile: how long it ran, how much of that was not idle, and the functions with the most
 * self time, with their source file; with --timeline, the same per time slice instead. Where the busy
 * time of a thread goes is the question; the call tree is left to a profiler UI (Chrome DevTools opens
 * the same files).
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Frames that are not work: the thread was waiting (atomicsWaitLoop: an idle piscina worker). */
const IDLE = new Set(["(idle)", "(program)", "atomicsWaitLoop"]);

function isIdle(name: string): boolean {
  return IDLE.has(name.split(" ")[0]!);
}

function frameName(f: CallFrame): string {
  const file = f.url === "" ? "" : ` ${basename(f.url)}:${f.lineNumber + 1}`;
  return `${f.functionName === "" ? "(anonymous)" : f.functionName}${file}`;
}

/** Self time per frame name, in microseconds, and the profile's length. */
function selfTimes(p: CpuProfile): { byFrame: Map<string, number>; wallUs: number } {
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const byFrame = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    // A sample's delta is the time since the previous one: attribute the next delta to this sample.
    const us = p.timeDeltas[i + 1] ?? 0;
    const name = frameName(frames.get(p.samples[i]!)!);
    byFrame.set(name, (byFrame.get(name) ?? 0) + us);
  }
  return { byFrame, wallUs: p.endTime - p.startTime };
}

function summarise(path: string, top: number): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const { byFrame, wallUs } = selfTimes(p);
  let idle = 0;
  for (const [name, us] of byFrame) if (isIdle(name)) idle += us;
  const busy = wallUs - idle;
  const [, , , pid, thread] = basename(path).split(".");
  const lines = [
    `${basename(path)}: pid ${pid} thread ${thread} (${thread === "0" ? "main" : "worker"}), ` +
      `${(wallUs / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(2)} s busy`,
  ];
  const ranked = [...byFrame].filter(([name]) => !isIdle(name)).sort((a, b) => b[1] - a[1]);
  for (const [name, us] of ranked.slice(0, top)) {
    lines.push(
      `  ${(us / 1e6).toFixed(3).padStart(8)} s  ${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)} %  ${name}`,
    );
  }
  return lines.join("\n");
}

/**
 * Busy share and top self-time frames per `bucketMs` of wall time, from the first to the last busy
 * sample: lines up a thread's work with the phases the benchmark reports.
 */
function timeline(path: string, bucketMs: number): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const buckets = new Map<number, Map<string, number>>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const name = frameName(frames.get(p.samples[i]!)!);
    if (isIdle(name)) continue;
    const at = Math.floor((t - p.startTime) / 1000 / bucketMs);
    const bucket = buckets.get(at) ?? new Map<string, number>();
    bucket.set(name, (bucket.get(name) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
    buckets.set(at, bucket);
  }
  const lines = [`${basename(path)} (epoch of profile start: ${(p.startTime / 1e6).toFixed(3)} s)`];
  for (const at of [...buckets.keys()].sort((a, b) => a - b)) {
    const bucket = buckets.get(at)!;
    const busy = [...bucket.values()].reduce((a, b) => a + b, 0);
    if (busy < bucketMs * 50) continue; // under 5 % busy: noise
    const top = [...bucket]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, us]) => `${name} ${Math.round(us / 1000)}`)
      .join(", ");
    lines.push(
      `  +${((at * bucketMs) / 1000).toFixed(1).padStart(6)} s ${String(Math.round(busy / bucketMs / 10)).padStart(3)} %  ${top}`,
    );
  }
  return lines.join("\n");
}

const { values, positionals } = parseArgs({
  options: { top: { type: "string", default: "15" }, timeline: { type: "string" } },
  allowPositionals: true,
});
const dir = positionals[0];
if (dir === undefined) {
  console.error("usage: node dist/benchmarks/sync-profile.js DIR [--top N] [--timeline BUCKET_MS]");
  process.exitCode = 2;
} else {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort();
  for (const f of files) {
    const path = join(dir, f);
    const text =
      values.timeline === undefined
        ? summarise(path, Number(values.top))
        : timeline(path, Number(values.timeline));
    console.log(`${text}\n`);
  }
}
