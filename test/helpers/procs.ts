/**
 * Black-box helpers for integration tests: spawn real `left` processes (dist/src/cli/main.js) on loopback
 * addresses, read their status.json, write random files, and compare whole share trees by SHA-256.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Status } from "../../src/sync/status.js";

export const LEFT_CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** A port base for one test file: random, so parallel runs on this machine rarely collide. */
export function randomPort(): number {
  return randomInt(20000, 30000);
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
    const collect = (chunk: Buffer) => this.output.push(chunk.toString());
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code) => {
        this.proc = null;
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

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Every entry of a share except .left/: path → "dir", "link:<target>" or "<size>:<mtime>" (cheap), or with
 * `hashes` the file's SHA-256 instead of size and mtime.
 */
export async function tree(dir: string, hashes = false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(dir, rel)).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      if (path === ".left") continue;
      const abs = join(dir, path);
      const st = await lstat(abs).catch(() => null);
      if (st === null) continue;
      if (st.isDirectory()) {
        out.set(path, "dir");
        await walk(path);
      } else if (st.isSymbolicLink()) {
        out.set(path, `link:${await readlink(abs)}`);
      } else {
        out.set(path, hashes ? await sha256File(abs) : `${st.size}:${Math.floor(st.mtimeMs)}`);
      }
    }
  };
  await walk("");
  return out;
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Differences between two trees, for assertion messages. */
export function treeDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const diff: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) diff.push(`${k}: ${v} vs ${b.get(k) ?? "missing"}`);
  for (const k of b.keys()) if (!a.has(k)) diff.push(`${k}: missing vs ${b.get(k)}`);
  return diff;
}

/**
 * Waits until every share holds exactly the same entries (cheap listing first, then SHA-256 of every file)
 * and returns the verified tree.
 */
export async function waitForSameTrees(dirs: string[], timeoutMs: number): Promise<Map<string, string>> {
  let verified = new Map<string, string>();
  await waitFor(
    `identical trees in ${dirs.join(", ")}`,
    async () => {
      const quick = await Promise.all(dirs.map((d) => tree(d)));
      if (!quick.every((t) => sameMap(t, quick[0]!))) return false;
      const full = await Promise.all(dirs.map((d) => tree(d, true)));
      if (!full.every((t) => sameMap(t, full[0]!))) return false;
      verified = full[0]!;
      return true;
    },
    timeoutMs,
    250,
  );
  return verified;
}

/** Milliseconds → "1.23 s", for the phase timings printed by the tests. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
