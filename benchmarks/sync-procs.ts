/**
 * The sync benchmark's child processes, and what it reads about processes from /proc.
 *
 * Every child runs under coreutils `timeout` in a session (and process group) of its own: the groups are
 * killed on exit, on SIGINT/SIGTERM/SIGHUP and by the callers' deadlines, and `timeout` still ends a
 * child whose parent was SIGKILLed. Signals meant for the command itself (SIGTERM for a clean stop,
 * SIGKILL for the resume case) go to its own pid, not to the wrapper.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Linux on x86_64 always reports times in 1/100 s (sysconf(_SC_CLK_TCK)); Node cannot ask. */
const CLOCK_TICKS = 100;

const groups = new Set<number>();

function killGroups(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  groups.clear();
}

process.on("exit", killGroups);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    killGroups();
    process.exit(130);
  });
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(path: string): string[] | null {
  try {
    const text = readFileSync(path, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Children of every thread: Go programs (Syncthing's monitor) fork from whichever thread runs. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
        .split(" ")
        .filter((s) => s !== "")
        .map(Number),
    );
  } catch {
    return [];
  }
}

export interface SpawnOptions {
  /** stdout and stderr are appended here. */
  logPath: string;
  /** `timeout` ends the command (TERM, then KILL 10 s later) after this many seconds. */
  lifetimeS: number;
  env?: NodeJS.ProcessEnv;
}

export class Child {
  /** Resolves with the wrapper's exit code (or signal name) when the whole command has ended. */
  readonly exited: Promise<number | string>;
  private ended = false;

  private constructor(private readonly proc: ChildProcess) {
    this.exited = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        this.ended = true;
        groups.delete(proc.pid!);
        resolve(code ?? signal ?? "unknown");
      });
    });
  }

  static start(command: string, args: readonly string[], opts: SpawnOptions): Child {
    const log = openSync(opts.logPath, "a");
    try {
      const proc = spawn(
        "timeout",
        ["--signal=TERM", "--kill-after=10", String(Math.ceil(opts.lifetimeS)), command, ...args],
        { stdio: ["ignore", log, log], detached: true, env: opts.env ?? process.env },
      );
      if (proc.pid === undefined) throw new Error(`cannot start ${command}`);
      groups.add(proc.pid);
      return new Child(proc);
    } finally {
      closeSync(log);
    }
  }

  get running(): boolean {
    return !this.ended;
  }

  /** The command's pid (the wrapper's child); null once it has ended or if it never started. */
  async commandPid(timeoutMs = 5000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) {
      const [pid] = childPids(this.proc.pid!);
      if (pid !== undefined) return pid;
      await sleep(5);
    }
    return null;
  }

  /** The deepest first descendant: the worker of a command that runs a monitor process (Syncthing). */
  leafPid(): number | null {
    let pid = this.proc.pid!;
    for (let next = childPids(pid)[0]; next !== undefined; next = childPids(pid)[0]) pid = next;
    return pid === this.proc.pid ? null : pid;
  }

  /** SIGKILL to everything this child started. */
  killGroup(): void {
    if (this.ended) return;
    try {
      process.kill(-this.proc.pid!, "SIGKILL");
    } catch {
      // Raced with its exit.
    }
  }

  /**
   * Sends `signal` to the command alone and waits up to `graceMs` for it to end, then kills the group.
   * Not to the group nor the wrapper: `timeout` forwards a signal to its whole group, so the command
   * would get it twice, and a LEFT daemon takes a second SIGTERM as "stop now, skip the clean shutdown".
   */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.ended) return;
    const timer = setTimeout(() => this.killGroup(), graceMs);
    const [pid] = childPids(this.proc.pid!);
    try {
      if (pid === undefined) this.killGroup();
      else process.kill(pid, signal);
    } catch {
      this.killGroup();
    }
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs a command to completion under a deadline; returns its exit code and output. */
export function run(
  command: string,
  args: readonly string[],
  timeoutMs: number,
  onStart?: (pid: number) => void,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    if (proc.pid !== undefined) onStart?.(proc.pid);
    const chunks: Buffer[] = [];
    proc.stdout.on("data", (c: Buffer) => chunks.push(c));
    proc.stderr.on("data", (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, out: String(err) });
    });
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(chunks).toString("utf8") });
    });
  });
}

const MB = 1e6;

/** VmRSS and VmHWM of a process in MB, null when it is gone. */
function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rss: (kb("VmRSS") * 1024) / MB, hwm: (kb("VmHWM") * 1024) / MB };
  } catch {
    return null;
  }
}

/**
 * Samples the resident memory of named processes every `intervalMs`. The pid of a name may change
 * between samples (a restarted peer): the peaks cover every process that held the name.
 */
export class RssSampler {
  private readonly peakRss = new Map<string, number>();
  private readonly peakHwm = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => Record<string, number | null>,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids())) {
      const m = pid === null ? null : memoryOf(pid);
      if (m === null) continue;
      this.peakRss.set(name, Math.max(this.peakRss.get(name) ?? 0, m.rss));
      this.peakHwm.set(name, Math.max(this.peakHwm.get(name) ?? 0, m.hwm));
    }
  }

  /** Takes a last sample and stops; the highest VmRSS sampled per name (MB). */
  stop(): Record<string, number | null> {
    this.sample();
    clearInterval(this.timer);
    return Object.fromEntries(Object.keys(this.pids()).map((name) => [name, this.peakRss.get(name) ?? null]));
  }

  /** The highest VmHWM seen per name (MB): the kernel's own peak, which also catches sub-sample spikes. */
  highWater(): Record<string, number | null> {
    return Object.fromEntries(Object.keys(this.pids()).map((name) => [name, this.peakHwm.get(name) ?? null]));
  }
}

export interface CpuTimes {
  /** All threads, seconds. */
  total: number;
  /** The main thread (event loop) alone, seconds. */
  main: number;
}

/** User + system CPU time of a process; zeros once it is gone. */
export function cpuOf(pid: number): CpuTimes {
  const seconds = (f: string[] | null) => (f === null ? 0 : (Number(f[11]) + Number(f[12])) / CLOCK_TICKS);
  return {
    total: seconds(statFields(`/proc/${pid}/stat`)),
    main: seconds(statFields(`/proc/${pid}/task/${pid}/stat`)),
  };
}

export function cpuSince(before: CpuTimes, after: CpuTimes): CpuTimes {
  return { total: after.total - before.total, main: after.main - before.main };
}

const ownSession = Number(statFields("/proc/self/stat")?.[3] ?? -1);

/** CPU ticks spent in user and system mode by the whole machine since boot (softirq excluded: loopback
 * packet processing is charged there, whoever's packets they are). */
function machineTicks(): number {
  const [, user, nice, system] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.split(/\s+/);
  return Number(user) + Number(nice) + Number(system);
}

/**
 * CPU ticks of this process tree: our session and the groups we spawned, each with its reaped children
 * (cutime, cstime), so a child that ended is still counted, through whoever waited for it.
 */
function ownTicks(): number {
  let sum = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(`/proc/${name}/stat`);
    if (f === null) continue;
    const session = Number(f[3]);
    if (session !== ownSession && !groups.has(session)) continue;
    sum += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return sum;
}

/**
 * CPU used by everything else on this shared machine since construction, in seconds: the machine's
 * user + system time minus ours. Unlike a per-process scan it also counts processes that start and end
 * in between (other people's test runs and benchmarks spawn many short ones).
 */
export class ForeignCpu {
  private readonly machine = machineTicks();
  private readonly own = ownTicks();

  seconds(): number {
    return Math.max(0, machineTicks() - this.machine - (ownTicks() - this.own)) / CLOCK_TICKS;
  }
}

/** Waits until a 1 s window with < 0.05 s of foreign CPU, at most `maxS`; returns the seconds waited. */
export async function waitQuiet(maxS: number): Promise<number> {
  const start = Date.now();
  while ((Date.now() - start) / 1000 < maxS) {
    const meter = new ForeignCpu();
    await sleep(1000);
    if (meter.seconds() < 0.05) break;
  }
  return (Date.now() - start) / 1000;
}
