/**
 * The LEFT side of the sync benchmark: two real daemons (dist/src/cli/main.js) on 127.0.0.2 and
 * 127.0.0.3 with fresh shares, and the cases run against them.
 *
 * A case is timed from the moment the change appears in A's share (a rename into it, or an in-place
 * write + fsync) to the moment B's file has its final size under its final name and a new inode: LEFT
 * renames only verified files into place, so that is the moment B holds the new version. After the clock
 * stops the case also requires B's status.json to say inSync and both copies to have the same SHA-256.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DAEMON_NODE_FLAGS } from "../src/cli/node-flags.js";
import type { Status } from "../src/sync/status.js";
import {
  fileState,
  overwriteAt,
  sha256File,
  stageCopy,
  type Workload,
  waitFor,
  warm,
  writeRandomFile,
} from "./sync-data.js";
import { LeftPhases } from "./sync-phases.js";
import { Child, type CpuTimes, cpuOf, cpuSince, ForeignCpu, RssSampler, waitQuiet } from "./sync-procs.js";
import { type CaseName, type CaseResult, finish, newResult, type ToolOptions } from "./sync-report.js";

const MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const HOST_A = "127.0.0.2";
const HOST_B = "127.0.0.3";
/** LEFT's pairs take two ports from here; the transport benchmark uses 23000–23999, rsync 24800–24899. */
const PORT_BASE = 25000;
const PORT_SLOTS = 500;
const POLL_MS = 10;
/** status.json is rewritten every 500 ms: a snapshot this much younger than an event includes it. */
const STATUS_SETTLE_MS = 600;
const FILE = "f.bin";
const RESUME_FILE = "r.bin";

export interface LeftOptions extends ToolOptions {
  encryption: boolean;
  /** Node flags for the daemons, e.g. --cpu-prof. */
  nodeFlags: string[];
  /** More options for the daemons, after the ones this benchmark sets. */
  leftArgs: string[];
}

class LeftPeer {
  private child: Child | null = null;
  pid: number | null = null;
  /** CPU of earlier processes of this peer (killed and restarted), so totals span restarts. */
  private cpuBefore: CpuTimes = { total: 0, main: 0 };

  constructor(
    readonly name: "a" | "b",
    readonly dir: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly opts: LeftOptions,
  ) {}

  async start(): Promise<void> {
    this.child = Child.start(
      process.execPath,
      [...DAEMON_NODE_FLAGS, ...this.opts.nodeFlags, MAIN, ...this.args],
      {
        logPath: join(this.opts.logs, `left-${this.name}.log`),
        lifetimeS: this.opts.lifetimeS,
        env: this.env,
      },
    );
    this.pid = await this.child.commandPid();
    if (this.pid === null) throw new Error(`left ${this.name} did not start: ${await this.logTail()}`);
  }

  get running(): boolean {
    return this.child?.running === true;
  }

  status(): Status | null {
    try {
      const s = JSON.parse(readFileSync(join(this.dir, ".left", "status.json"), "utf8")) as Status;
      return s.pid === this.pid && typeof s.wire?.bytesSent === "number" ? s : null;
    } catch {
      return null;
    }
  }

  /** The first status written at least `settleMs` after `sinceMs` (epoch) that satisfies `ok`. */
  freshStatus(
    sinceMs: number,
    deadline: number,
    ok: (s: Status) => boolean = () => true,
  ): Promise<Status | null> {
    return waitFor(
      () => {
        const s = this.status();
        return s !== null && Date.parse(s.updatedAt) >= sinceMs + STATUS_SETTLE_MS && ok(s) ? s : null;
      },
      deadline,
      50,
    );
  }

  cpu(): CpuTimes {
    const now = this.pid === null ? { total: 0, main: 0 } : cpuOf(this.pid);
    return { total: this.cpuBefore.total + now.total, main: this.cpuBefore.main + now.main };
  }

  /** SIGKILL, as a crash or power cut would. */
  async kill(): Promise<void> {
    if (this.pid !== null) this.cpuBefore = this.cpu();
    if (this.pid !== null) process.kill(this.pid, "SIGKILL");
    await this.child?.exited;
    this.pid = null;
  }

  /** SIGTERM: the daemon's clean shutdown, which also writes --cpu-prof profiles. */
  async stop(): Promise<void> {
    await this.child?.stop("SIGTERM", 20_000);
    this.pid = null;
  }

  async logTail(): Promise<string> {
    const text = await readFile(join(this.opts.logs, `left-${this.name}.log`), "utf8").catch(() => "");
    return text.split("\n").slice(-6).join(" | ");
  }
}

class LeftPair {
  private constructor(
    readonly a: LeftPeer,
    readonly b: LeftPeer,
  ) {}

  static async start(opts: LeftOptions): Promise<LeftPair> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The key goes by environment, not argv: ps shows argv to everyone on the machine.
    if (opts.encryption) env.LEFT_KEY = randomBytes(24).toString("base64url");
    else delete env.LEFT_KEY;
    const encryption = ["--encryption", opts.encryption ? "yes" : "no"];
    for (let attempt = 1; ; attempt++) {
      const port = PORT_BASE + 2 * Math.floor(Math.random() * PORT_SLOTS);
      const peer = (name: "a" | "b", host: string, p: number, other: string, otherPort: number) =>
        new LeftPeer(
          name,
          join(opts.work, name),
          ["--dir", join(opts.work, name), "--bind", host, "--port", String(p)].concat([
            "--ip",
            `${other}:${otherPort}`,
            ...encryption,
            ...opts.leftArgs,
          ]),
          env,
          opts,
        );
      const pair = new LeftPair(
        peer("a", HOST_A, port, HOST_B, port + 1),
        peer("b", HOST_B, port + 1, HOST_A, port),
      );
      await Promise.all([mkdir(pair.a.dir, { recursive: true }), mkdir(pair.b.dir, { recursive: true })]);
      await pair.a.start();
      await pair.b.start();
      const connected = await waitFor(
        () => {
          if (!pair.a.running || !pair.b.running) return false;
          return pair.a.status()?.peers[0]?.connected && pair.b.status()?.peers[0]?.connected ? true : null;
        },
        Date.now() + 60_000,
        100,
      );
      if (connected === true) return pair;
      const logs = `a: ${await pair.a.logTail()} / b: ${await pair.b.logTail()}`;
      await pair.stop();
      if (attempt === 3 || !logs.includes("cannot listen"))
        throw new Error(`LEFT peers did not connect: ${logs}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.a.stop(), this.b.stop()]);
  }
}

/** A change made in A's share, and how the runner recognises that B has it. */
interface Change {
  name: CaseName;
  /** Path relative to the shares. */
  path: string;
  /** Size of the file after the change. */
  size: number;
  /** Files to read through before the clock starts. */
  warm: string[];
  /** Makes the change appear in A's share: this is when the clock starts. */
  act: () => Promise<void>;
  /** Called at every poll while waiting for B; the resume case kills and restarts B from here. */
  meanwhile?: (phases: LeftPhases, result: CaseResult, elapsedS: number) => Promise<void>;
}

async function measure(pair: LeftPair, change: Change, opts: LeftOptions): Promise<CaseResult> {
  const { a, b } = pair;
  const result = newResult(change.name, "left", change.size);
  const fail = (problem: string) => {
    result.problems.push(problem);
    return finish(result);
  };
  await warm(change.warm);
  await waitQuiet(opts.quietMaxS);
  const idle = (s: Status) => s.inSync && s.files.needed === 0;
  const before = Date.now() - STATUS_SETTLE_MS;
  const [a0, b0] = await Promise.all([
    a.freshStatus(before, Date.now() + 60_000, idle),
    b.freshStatus(before, Date.now() + 60_000, idle),
  ]);
  if (a0 === null || b0 === null) return fail("peers not in sync before the change");
  const target = join(b.dir, change.path);
  const previous = fileState(target);

  const rss = new RssSampler(() => ({ a: a.pid, b: b.pid }));
  const cpuA = a.cpu();
  const cpuB = b.cpu();
  const foreign = new ForeignCpu();
  const t0 = performance.now();
  const phases = new LeftPhases(a.dir, b.dir, change.path, change.size, t0);
  await change.act();
  const deadline = Date.now() + opts.caseTimeoutMs;
  const doneAt = await waitFor(
    async () => {
      const now = performance.now();
      phases.poll(now);
      const st = fileState(target);
      if (st !== null && st.size === change.size && st.ino !== previous?.ino) return now;
      await change.meanwhile?.(phases, result, (now - t0) / 1000);
      return null;
    },
    deadline,
    POLL_MS,
  );
  const doneWall = Date.now();
  const peaks = rss.stop();
  result.peakRssMB = { a: peaks.a ?? null, b: peaks.b ?? null };
  result.cpuSec = { a: cpuSince(cpuA, a.cpu()), b: cpuSince(cpuB, b.cpu()) };
  result.foreignCpuSec = foreign.seconds();
  if (doneAt === null) {
    result.phases = phases.result();
    return fail(`B did not have the file within ${opts.caseTimeoutMs / 1000} s`);
  }
  phases.placed(doneAt);
  result.phases = phases.result();
  result.seconds = (doneAt - t0) / 1000;

  const settle = Date.now() + 15_000;
  const [a1, b1] = await Promise.all([
    a.freshStatus(doneWall, settle, idle),
    b.freshStatus(doneWall, settle, idle),
  ]);
  if (a1 === null || b1 === null) result.problems.push("not inSync within 15 s after B had the file");
  else {
    const aSent = a1.wire.bytesSent - a0.wire.bytesSent;
    const aReceived = a1.wire.bytesReceived - a0.wire.bytesReceived;
    const bReceived = b1.pid === b0.pid ? b1.wire.bytesReceived - b0.wire.bytesReceived : null;
    result.wire = { aSent, aReceived, bReceived };
    result.wireBytes = aSent + aReceived;
    if (result.resume !== undefined) result.resume.sentRatio = aSent / change.size;
  }
  const [digestA, digestB] = await Promise.all([sha256File(join(a.dir, change.path)), sha256File(target)]);
  if (digestA === null || digestA !== digestB) result.problems.push("SHA-256 of A's and B's copies differ");
  result.ok = result.problems.length === 0;
  return finish(result);
}

/**
 * Kills B (SIGKILL) once half of the file is in its tmp file and restarts it at once; then notes when the
 * new B reports the connection (restart cost: start-up, key stretching, handshake, index exchange).
 */
function killHalfway(pair: LeftPair, size: number): Change["meanwhile"] {
  return async (phases, result, elapsed) => {
    const r = result.resume;
    if (r === undefined) {
      const written = phases.tmpAllocated();
      if (written < size / 2) return;
      await pair.b.kill();
      result.resume = { killedAtBytes: written, killedAtSec: elapsed, reconnectedAtSec: null, sentRatio: 0 };
      await pair.b.start();
    } else if (r.reconnectedAtSec === null && pair.b.status()?.peers[0]?.connected) {
      r.reconnectedAtSec = elapsed;
    }
  };
}

/** Runs the requested cases in order on one pair of daemons; delta cases need "first" and get it. */
export async function runLeft(
  w: Workload,
  cases: readonly CaseName[],
  opts: LeftOptions,
  emit: (r: CaseResult) => void,
): Promise<void> {
  const stage = join(opts.work, "stage");
  await mkdir(stage, { recursive: true });
  const pair = await LeftPair.start(opts);
  try {
    const aFile = join(pair.a.dir, FILE);
    const bFile = join(pair.b.dir, FILE);
    const staged = join(stage, FILE);
    const needsBase = cases.some((c) => c === "delta-mid" || c === "delta-insert");
    if (cases.includes("first") || needsBase) {
      await stageCopy(w.base, staged);
      const r = await measure(
        pair,
        { name: "first", path: FILE, size: w.size, warm: [staged], act: () => rename(staged, aFile) },
        opts,
      );
      if (cases.includes("first")) emit(r);
    }
    let size = w.size;
    if (cases.includes("delta-mid")) {
      const act = () => overwriteAt(aFile, w.midOffset, w.mid);
      emit(await measure(pair, { name: "delta-mid", path: FILE, size, warm: [aFile, bFile], act }, opts));
    }
    if (cases.includes("delta-insert")) {
      await stageCopy(aFile, staged, w.prefix);
      size += w.prefix.length;
      const act = () => rename(staged, aFile);
      emit(
        await measure(
          pair,
          { name: "delta-insert", path: FILE, size, warm: [aFile, bFile, staged], act },
          opts,
        ),
      );
    }
    if (cases.includes("resume")) {
      const fresh = join(stage, RESUME_FILE);
      await writeRandomFile(fresh, w.size);
      const change: Change = {
        name: "resume",
        path: RESUME_FILE,
        size: w.size,
        warm: [fresh],
        act: () => rename(fresh, join(pair.a.dir, RESUME_FILE)),
        meanwhile: killHalfway(pair, w.size),
      };
      const r = await measure(pair, change, opts);
      if (r.resume === undefined) {
        r.problems.push("B finished before half of the file had arrived: nothing was resumed");
        r.ok = false;
      }
      emit(r);
    }
  } finally {
    await pair.stop();
  }
}
