/**
 * What one case of the sync benchmark measured, as one JSON line, and the table printed at the end.
 * MB = 10^6 bytes throughout.
 */
import type { CpuTimes } from "./sync-procs.js";

export const CASES = ["first", "delta-mid", "delta-insert", "resume"] as const;
export type CaseName = (typeof CASES)[number];

export const TOOLS = ["left", "rsync", "syncthing"] as const;
export type Tool = (typeof TOOLS)[number];

/** What every tool's runner is given. */
export interface ToolOptions {
  /** The tool's own folder for shares, staging and config (deleted after the run). */
  work: string;
  /** Where daemon logs go (kept when a case fails). */
  logs: string;
  /** Daemons are ended by `timeout` after this many seconds whatever happens here. */
  lifetimeS: number;
  /** One case may take this long before it is given up. */
  caseTimeoutMs: number;
  /** Before each case, wait up to this long for a second without other people's CPU load. */
  quietMaxS: number;
}

/** A tool as reported: rsync runs delta-mid twice, the second time with --inplace. */
export type ToolVariant = Tool | "rsync --inplace";

export interface CaseResult {
  case: CaseName;
  tool: ToolVariant;
  /** Size of the file once synced. */
  bytes: number;
  /** From the change appearing to the receiver holding the verified file; null when it never did. */
  seconds: number | null;
  /** `bytes` / `seconds`: for the delta cases the rate at which the whole file is brought up to date. */
  MBps: number | null;
  /** UDP/TCP payload bytes in both directions (LEFT: sender's counters; rsync: sent + received). */
  wireBytes: number | null;
  /** Highest VmRSS sampled every 100 ms during the case, per side; null where not measured. */
  peakRssMB: { a: number | null; b: number | null };
  /** SHA-256 of sender and receiver copies equal, and every check of the case passed. */
  ok: boolean;
  /** CPU used by other people's processes on this shared machine during the case. */
  foreignCpuSec: number;
  problems: string[];
  /** LEFT: the wire counters of both sides (`bReceived` is B's own count, null when B was restarted). */
  wire?: { aSent: number; aReceived: number; bReceived: number | null };
  /** LEFT: CPU seconds per side during the case, all threads and the main thread alone. */
  cpuSec?: { a: CpuTimes; b: CpuTimes };
  /** LEFT: seconds after the change at which each step was first seen (see sync-phases.ts). */
  phases?: Record<string, number | null>;
  /**
   * LEFT resume: bytes in B's tmp file and seconds after the change when B was killed, when the
   * restarted B reported the connection (status.json, ≤ 0.5 s late), and what A sent in total relative
   * to the file.
   */
  resume?: { killedAtBytes: number; killedAtSec: number; reconnectedAtSec: number | null; sentRatio: number };
  /** With --repeat: the seconds of every run, in order; the rest of the result is the median run's. */
  runs?: (number | null)[];
}

function round(x: number | null, digits: number): number | null {
  if (x === null) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function newResult(name: CaseName, tool: ToolVariant, bytes: number): CaseResult {
  return {
    case: name,
    tool,
    bytes,
    seconds: null,
    MBps: null,
    wireBytes: null,
    peakRssMB: { a: null, b: null },
    ok: false,
    foreignCpuSec: 0,
    problems: [],
  };
}

/** Fills in the rate and rounds for printing. */
export function finish(r: CaseResult): CaseResult {
  r.MBps = r.seconds === null || r.seconds <= 0 ? null : round(r.bytes / 1e6 / r.seconds, 1);
  r.seconds = round(r.seconds, 3);
  r.foreignCpuSec = round(r.foreignCpuSec, 2)!;
  r.peakRssMB = { a: round(r.peakRssMB.a, 1), b: round(r.peakRssMB.b, 1) };
  if (r.cpuSec !== undefined) {
    const c = (t: CpuTimes) => ({ total: round(t.total, 2)!, main: round(t.main, 2)! });
    r.cpuSec = { a: c(r.cpuSec.a), b: c(r.cpuSec.b) };
  }
  if (r.resume !== undefined) {
    const { killedAtSec, reconnectedAtSec, sentRatio } = r.resume;
    Object.assign(r.resume, {
      killedAtSec: round(killedAtSec, 3),
      reconnectedAtSec: round(reconnectedAtSec, 3),
      sentRatio: round(sentRatio, 4),
    });
  }
  if (r.phases !== undefined) {
    r.phases = Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, round(v, 3)]));
  }
  return r;
}

function cell(value: number | null, digits: number): string {
  return value === null ? "—" : value.toFixed(digits);
}

function ratio(a: number | null, b: number | null): string {
  return a === null || b === null || b === 0 ? "—" : (a / b).toFixed(2);
}

/** The readable summary: one row per result, then LEFT's time and wire ratios against each peer tool. */
export function table(results: readonly CaseResult[], title: string): string {
  const rows = [
    "| case | tool | seconds | MB/s | wire MB | peak RSS MB a / b | foreign CPU s | ok |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const rss = `${cell(r.peakRssMB.a, 0)} / ${cell(r.peakRssMB.b, 0)}`;
    const wire = r.wireBytes === null ? null : r.wireBytes / 1e6;
    const spread = r.runs === undefined ? "" : ` (${r.runs.map((s) => cell(s, 2)).join(", ")})`;
    rows.push(
      `| ${r.case} | ${r.tool} | ${cell(r.seconds, 2)}${spread} | ${cell(r.MBps, 1)} | ${cell(wire, 2)} | ${rss} | ` +
        `${r.foreignCpuSec.toFixed(1)} | ${r.ok ? "yes" : "NO"} |`,
    );
  }
  const ratios = ["", "| case | vs | time LEFT/other | wire LEFT/other |", "|---|---|---|---|"];
  for (const left of results.filter((r) => r.tool === "left")) {
    for (const other of results.filter((r) => r.case === left.case && r.tool !== "left")) {
      ratios.push(
        `| ${left.case} | ${other.tool} | ${ratio(left.seconds, other.seconds)} | ` +
          `${ratio(left.wireBytes, other.wireBytes)} |`,
      );
    }
  }
  const problems = results.flatMap((r) => r.problems.map((p) => `- ${r.case}/${r.tool}: ${p}`));
  return [
    title,
    "",
    ...rows,
    ...(ratios.length > 3 ? ratios : []),
    ...(problems.length ? ["", ...problems] : []),
  ]
    .join("\n")
    .concat("\n");
}
