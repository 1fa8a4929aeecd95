/**
 * Black-box helpers for integration tests: spawn real `left` processes (dist/src/cli/main.js) on loopback
 * addresses, read their status.json, write random files, and compare whole share trees by SHA-256.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { listTree, sameTree, type Tree, treeDiff, walkTree } from "../../src/demo/trees.js";
import type { Status } from "../../src/sync/status.js";

export const LEFT_CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const RELAY_CLI = fileURLToPath(new URL("./relay-cli.js", import.meta.url));

/**
 * Starts the impairing relay (relay-cli.ts, its own process) and resolves once it reports its sockets
 * bound. It lives as long as its stdin stays open: end that, or kill it, to stop it.
 */
export async function spawnRelay(args: string[]): Promise<ChildProcess> {
  const relay = spawn(process.execPath, [RELAY_CLI, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: relay.stdout! });
  const [first] = (await once(lines, "line")) as [string];
  const report = JSON.parse(first) as { ready?: boolean; error?: string };
  if (!report.ready) throw new Error(`relay failed: ${report.error}`);
  return relay;
}

async function udpPortFree(host: string, port: number): Promise<boolean> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, host, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/**
 * A random UDP port in 20000–30000 that is free on every one of `hosts` right now, so that tests running
 * in parallel on this machine (other suites bind the same loopback addresses) rarely collide.
 */
export async function freePort(hosts: readonly string[]): Promise<number> {
  for (;;) {
    const port = randomInt(20000, 30000);
    const free = await Promise.all(hosts.map((h) => udpPortFree(h, port)));
    if (free.every(Boolean)) return port;
  }
}

export interface LeftOptions {
  name: string;
  dir: string;
  host: string;
  port: number;
  /** ip:port of every peer. */
  peers: string[];
  args?: string[];
  env?: Record<string, string>;
}

export class LeftProcess {
  readonly output: string[] = [];
  private proc: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  /** How the last run ended (exit code, or the signal that killed it); "" while running or never run. */
  ending = "";

  constructor(readonly opts: LeftOptions) {}

  get dir(): string {
    return this.opts.dir;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  start(): this {
    if (this.proc) throw new Error(`${this.opts.name} already running`);
    const { dir, host, port, peers, args = [] } = this.opts;
    const argv = [
      LEFT_CLI,
      "--dir",
      dir,
      "--bind",
      host,
      "--port",
      String(port),
      "--ip",
      peers.join(","),
      ...args,
    ];
    const proc = spawn(process.execPath, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.opts.env },
    });
    this.proc = proc;
    this.ending = "";
    const collect = (chunk: Buffer) => this.output.push(chunk.toString());
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.proc = null;
        this.ending = code === null ? `killed by ${signal}` : `exit code ${code}`;
        resolve(code);
      });
    });
    return this;
  }

  /** Sends `signal` and waits for the exit; resolves with the exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.proc === null) return this.exited;
    this.proc.kill(signal);
    return this.exited;
  }

  /** SIGKILL: no shutdown at all, as in a crash. */
  async kill(): Promise<void> {
    await this.stop("SIGKILL");
  }

  async status(): Promise<Status | null> {
    try {
      return JSON.parse(await readFile(join(this.opts.dir, ".left", "status.json"), "utf8")) as Status;
    } catch {
      return null;
    }
  }

  log(): string {
    return this.output.join("");
  }

  /** The process's state and its last log lines, for failure messages. */
  describe(lines = 12): string {
    const state = this.running ? "running" : `stopped (${this.ending || "never started"})`;
    const tail = this.log().trimEnd().split("\n").slice(-lines).join("\n    ");
    return `${this.opts.name} [${this.opts.host}:${this.opts.port}, ${this.dir}] ${state}\n    ${tail}`;
  }
}

/** The loopback addresses of the three-peer integration suites (one suite runs at a time). */
/**
 * Two daemons A (127.0.0.2) and B (127.0.0.3) that only see each other through the impairing relay, its
 * own process: A ⇄ relay side a (127.0.0.10) … relay side b (127.0.0.11) ⇄ B. `impairments` are relay
 * flags (--loss 0.03 …). The daemons are created, not started; stop() kills everything.
 */
export async function relayedPair(
  root: string,
  impairments: string[],
): Promise<{ A: LeftProcess; B: LeftProcess; relay: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort(["127.0.0.2", "127.0.0.3", "127.0.0.10", "127.0.0.11"]);
  const relay = await spawnRelay([
    ...["--a", `127.0.0.10:${port}`, "--b", `127.0.0.11:${port}`, "--target", `127.0.0.3:${port}`],
    ...impairments,
  ]);
  const side = (name: string, host: string, via: string) =>
    new LeftProcess({ name, dir: join(root, name), host, port, peers: [`${via}:${port}`] });
  const A = side("A", "127.0.0.2", "127.0.0.10");
  const B = side("B", "127.0.0.3", "127.0.0.11");
  const stop = async () => {
    await Promise.all([A.kill(), B.kill()]);
    relay.stdin?.end();
    relay.kill();
  };
  return { A, B, relay, stop };
}

export const THREE_HOSTS = { A: "127.0.0.2", B: "127.0.0.3", C: "127.0.0.4" } as const;

/**
 * One `left` process per entry of `hosts` (name → loopback address), each sharing `<root>/<name>` and
 * peering with all the others on one port that is free on every host; `args` adds flags per process.
 * None is started.
 */
export async function mesh<N extends string>(
  root: string,
  hosts: Readonly<Record<N, string>>,
  args: Partial<Record<N, string[]>> = {},
): Promise<Record<N, LeftProcess>> {
  const names = Object.keys(hosts) as N[];
  const port = await freePort(names.map((n) => hosts[n]));
  const procs = {} as Record<N, LeftProcess>;
  for (const name of names) {
    procs[name] = new LeftProcess({
      name,
      dir: join(root, name),
      host: hosts[name],
      port,
      peers: names.filter((n) => n !== name).map((n) => `${hosts[n]}:${port}`),
      args: args[name] ?? [],
    });
  }
  return procs;
}

/** Polls `check` every `intervalMs` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Writes `size` random bytes (in 1 MiB chunks, so memory stays flat). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, "w");
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(1 << 20, size - done);
      await fh.write(randomBytes(n), 0, n, done);
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/** Overwrites `size` bytes at `offset` with random data, in place. */
export async function overwriteRandom(path: string, offset: number, size: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.write(randomBytes(size), 0, size, offset);
  } finally {
    await fh.close();
  }
}

export { treeDiff };

/**
 * Every entry of a share except .left/ (listed as the demo lists folders): each file's size and SHA-256
 * with `hashes`, else its size and whole-millisecond mtime, which is cheap and also tells an mtime that
 * did not sync.
 */
export function tree(dir: string, hashes = false): Promise<Tree> {
  return hashes
    ? listTree(dir, true)
    : walkTree(dir, (_abs, st) => `file ${st.size} ${Math.floor(st.mtimeMs)}`);
}

/**
 * Waits until the shares of all `procs` hold exactly the same entries (cheap listing first, then SHA-256
 * of every file) and returns the verified tree. Fails at once if one of them is not running, and on
 * timeout, with the differences and each process's last log lines.
 */
export async function waitForSameTrees(procs: LeftProcess[], timeoutMs: number): Promise<Tree> {
  const dirs = procs.map((p) => p.dir);
  let verified: Tree = new Map();
  const failure = async (why: string) => {
    const [first, ...rest] = await Promise.all(dirs.map((d) => tree(d)));
    const diffs = rest.map(
      (t, i) => `${procs[0]!.opts.name} vs ${procs[i + 1]!.opts.name}: ${treeDiff(first!, t, 8).join("; ")}`,
    );
    return new Error(`${why}\n  ${diffs.join("\n  ")}\n  ${procs.map((p) => p.describe()).join("\n  ")}`);
  };
  try {
    await waitFor(
      "identical trees",
      async () => {
        const stopped = procs.find((p) => !p.running);
        if (stopped) throw await failure(`${stopped.opts.name} is not running`);
        const quick = await Promise.all(dirs.map((d) => tree(d)));
        if (!quick.every((t) => sameTree(t, quick[0]!))) return false;
        const full = await Promise.all(dirs.map((d) => tree(d, true)));
        if (!full.every((t) => sameTree(t, full[0]!))) return false;
        verified = full[0]!;
        return true;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    if ((err as Error).message.startsWith("timed out")) throw await failure((err as Error).message);
    throw err;
  }
  return verified;
}

/** Milliseconds → "1.23 s", for the phase timings printed by the tests. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
