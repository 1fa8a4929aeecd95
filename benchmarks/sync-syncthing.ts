/**
 * Syncthing on the same data, as /work/shared/bench/syncthing_bench.sh runs it: two instances, sync
 * protocol on 127.0.0.2 and 127.0.0.3, REST on 127.0.0.1. Discovery, relays, NAT, usage and crash
 * reporting and upgrades are switched off in config.xml before the first start, and checked over REST
 * after it (the instances are stopped at once if anything would leave loopback).
 *
 * Each change is followed by a forced rescan (POST /rest/db/scan on A), so the watcher's 10 s delay is
 * not measured. Timed: from the change to B's file having the new size and a new inode (Syncthing
 * renames its temp file into place only when complete). Wire: A's connection totals, in + out.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileState, overwriteAt, sha256File, stageCopy, type Workload, waitFor, warm } from "./sync-data.js";
import { Child, ForeignCpu, RssSampler, run, waitQuiet } from "./sync-procs.js";
import { type CaseName, type CaseResult, finish, newResult, type ToolOptions } from "./sync-report.js";

const FILE = "f.bin";
const FOLDER = "bench";
const POLL_MS = 10;

/** Options that keep an instance off every network but loopback (the reference script's list). */
const QUIET_OPTIONS: Record<string, string> = {
  globalAnnounceEnabled: "false",
  localAnnounceEnabled: "false",
  relaysEnabled: "false",
  natEnabled: "false",
  startBrowser: "false",
  urAccepted: "-1",
  urSeen: "3",
  autoUpgradeIntervalH: "0",
  crashReportingEnabled: "false",
  stunKeepaliveStartS: "0",
  announceLANAddresses: "false",
  restartOnWakeup: "false",
  setLowPriority: "false",
  progressUpdateIntervalS: "-1",
  globalAnnounceServer: "",
  stunServer: "",
};

/** Replaces the single match of `pattern` (global flag required; `$1` works); any other count is an error. */
function replaceOnce(xml: string, pattern: RegExp, replacement: string, what: string): string {
  const count = xml.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`syncthing config.xml: expected one ${what}, found ${count}`);
  return xml.replace(pattern, replacement);
}

interface Instance {
  id: string;
  home: string;
  folder: string;
  listen: string;
  gui: number;
}

/**
 * Rewrites the config.xml that `syncthing generate` wrote: quiet options, our listen address, the peer
 * device and the shared folder, both cloned from the file's own <defaults> so every field is explicit.
 */
function configure(xml: string, self: Instance, peer: Instance): string {
  if (!/^[\w/.-]+$/.test(self.folder)) throw new Error(`folder path needs XML escaping: ${self.folder}`);
  let out = xml;
  for (const [tag, value] of Object.entries({ ...QUIET_OPTIONS, listenAddress: self.listen })) {
    out = replaceOnce(out, new RegExp(`<${tag}>[^<]*</${tag}>`, "g"), `<${tag}>${value}</${tag}>`, tag);
  }
  const selfDevice = new RegExp(`(<device id="${self.id}"[^>]*>\\s*<address>)dynamic(</address>)`, "g");
  out = replaceOnce(out, selfDevice, `$1${self.listen}$2`, "own device");
  const defaults = /<defaults>[\s\S]*<\/defaults>/.exec(out)?.[0] ?? "";
  const deviceTemplate = /<device id=""[\s\S]*?<\/device>/.exec(defaults)?.[0];
  const folderTemplate = /<folder id=""[\s\S]*?<\/folder>/.exec(defaults)?.[0];
  if (deviceTemplate === undefined || folderTemplate === undefined)
    throw new Error("no <defaults> in config.xml");
  const device = deviceTemplate
    .replace('id=""', `id="${peer.id}" name="peer"`)
    .replace("<address>dynamic</address>", `<address>${peer.listen}</address>`);
  const member = (id: string) =>
    `<device id="${id}" introducedBy=""><encryptionPassword></encryptionPassword></device>`;
  const folder = folderTemplate
    .replace(/id="" label="" path="[^"]*"/, `id="${FOLDER}" label="${FOLDER}" path="${self.folder}"`)
    .replace(/<device id="[^"]*" introducedBy="">[\s\S]*?<\/device>/, member(self.id) + member(peer.id));
  return replaceOnce(out, /<gui /g, `${folder}\n${device}\n<gui `, "<gui>");
}

class SyncthingPair {
  private readonly key = randomBytes(16).toString("hex");
  private children: Child[] = [];

  constructor(
    readonly a: Instance,
    readonly b: Instance,
    private readonly opts: ToolOptions,
  ) {}

  async api<T>(inst: Instance, method: "GET" | "POST", path: string): Promise<T | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${inst.gui}/rest/${path}`, {
        method,
        headers: { "X-API-Key": this.key },
        signal: AbortSignal.timeout(this.opts.caseTimeoutMs),
      });
      if (!res.ok) return null;
      const text = await res.text();
      return (text === "" ? {} : JSON.parse(text)) as T;
    } catch {
      return null;
    }
  }

  async start(): Promise<void> {
    for (const inst of [this.a, this.b]) {
      const child = Child.start(
        "syncthing",
        [
          "serve",
          `--home=${inst.home}`,
          "--no-browser",
          "--no-restart",
          "--no-upgrade",
          `--gui-address=http://127.0.0.1:${inst.gui}`,
          `--gui-apikey=${this.key}`,
        ],
        {
          logPath: join(this.opts.logs, `syncthing-${inst === this.a ? "a" : "b"}.log`),
          lifetimeS: this.opts.lifetimeS,
          env: { ...process.env, STNODEFAULTFOLDER: "1", STNOUPGRADE: "1", STNORESTART: "1" },
        },
      );
      this.children.push(child);
    }
    const deadline = Date.now() + 60_000;
    for (const inst of [this.a, this.b]) {
      if ((await waitFor(() => this.api(inst, "GET", "system/ping"), deadline, 200)) === null) {
        throw new Error("syncthing did not answer on its REST port");
      }
      await this.checkLoopbackOnly(inst);
    }
    const connected = await waitFor(
      async () => {
        const c = await this.api<{ connections: Record<string, { connected: boolean }> }>(
          this.a,
          "GET",
          "system/connections",
        );
        return c?.connections[this.b.id]?.connected ? true : null;
      },
      deadline,
      200,
    );
    if (connected === null) throw new Error("syncthing instances did not connect");
  }

  /** The running configuration must match what was written: nothing may talk beyond 127.0.0.0/8. */
  private async checkLoopbackOnly(inst: Instance): Promise<void> {
    interface Config {
      options: Record<string, unknown> & { listenAddresses: string[] };
      devices: { addresses: string[] }[];
    }
    const c = await this.api<Config>(inst, "GET", "config");
    const o = c?.options;
    const loopback = (a: string) => a.startsWith("tcp://127.") || a === "dynamic";
    const quiet =
      o !== undefined &&
      o.globalAnnounceEnabled === false &&
      o.localAnnounceEnabled === false &&
      o.relaysEnabled === false &&
      o.natEnabled === false &&
      o.crashReportingEnabled === false &&
      Number(o.urAccepted) < 0 &&
      o.listenAddresses.every((a) => a.startsWith("tcp://127.")) &&
      c!.devices.every((d) => d.addresses.every(loopback));
    if (!quiet) {
      this.kill();
      throw new Error("syncthing's running configuration is not loopback-only: stopped");
    }
  }

  /** Pids of the syncthing worker processes (under their monitor), for RSS sampling. */
  workerPids(): { a: number | null; b: number | null } {
    return { a: this.children[0]?.leafPid() ?? null, b: this.children[1]?.leafPid() ?? null };
  }

  async idle(deadline: number): Promise<boolean> {
    const state = (inst: Instance) =>
      this.api<{ state: string; needTotalItems: number }>(inst, "GET", `db/status?folder=${FOLDER}`);
    const ok = await waitFor(
      async () => {
        const [sa, sb] = await Promise.all([state(this.a), state(this.b)]);
        return sa?.state === "idle" && sb?.state === "idle" && sb.needTotalItems === 0 ? true : null;
      },
      deadline,
      200,
    );
    return ok !== null;
  }

  async wireBytes(): Promise<number | null> {
    const c = await this.api<{ total: { inBytesTotal: number; outBytesTotal: number } }>(
      this.a,
      "GET",
      "system/connections",
    );
    return c === null ? null : c.total.inBytesTotal + c.total.outBytesTotal;
  }

  scan(): Promise<unknown> {
    return this.api(this.a, "POST", `db/scan?folder=${FOLDER}`);
  }

  kill(): void {
    for (const c of this.children) c.killGroup();
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop("SIGTERM", 15_000)));
  }
}

async function generate(work: string, name: string, listen: string, gui: number): Promise<Instance> {
  const home = join(work, name, "home");
  const { code, out } = await run(
    "syncthing",
    ["generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"],
    60_000,
  );
  const id = /Device ID:\s*([A-Z0-9-]+)/.exec(out)?.[1];
  if (code !== 0 || id === undefined) throw new Error(`syncthing generate failed: ${out.trim()}`);
  return { id, home, folder: join(work, name, "folder"), listen, gui };
}

export async function runSyncthing(
  w: Workload,
  cases: readonly CaseName[],
  opts: ToolOptions,
  emit: (r: CaseResult) => void,
): Promise<void> {
  const port = 26000 + 2 * Math.floor(Math.random() * 400);
  const gui = 28400 + 2 * Math.floor(Math.random() * 300);
  const a = await generate(opts.work, "a", `tcp://127.0.0.2:${port}`, gui);
  const b = await generate(opts.work, "b", `tcp://127.0.0.3:${port + 1}`, gui + 1);
  for (const [self, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    // The folder and its marker exist before the first start, as for a folder a user added.
    await mkdir(join(self.folder, ".stfolder"), { recursive: true });
    const path = join(self.home, "config.xml");
    await writeFile(path, configure(await readFile(path, "utf8"), self, peer));
  }
  const pair = new SyncthingPair(a, b, opts);
  const aFile = join(a.folder, FILE);
  const bFile = join(b.folder, FILE);
  const staged = join(opts.work, FILE);

  const measure = async (name: CaseName, size: number, act: () => Promise<void>): Promise<CaseResult> => {
    const result = newResult(name, "syncthing", size);
    await warm([aFile, bFile, staged]);
    await waitQuiet(opts.quietMaxS);
    if (!(await pair.idle(Date.now() + opts.caseTimeoutMs)))
      result.problems.push("not idle before the change");
    const previous = fileState(bFile);
    const wire0 = await pair.wireBytes();
    const rss = new RssSampler(() => pair.workerPids());
    const foreign = new ForeignCpu();
    const t0 = performance.now();
    await act();
    await pair.scan();
    const doneAt = await waitFor(
      () => {
        const st = fileState(bFile);
        return st !== null && st.size === size && st.ino !== previous?.ino ? performance.now() : null;
      },
      Date.now() + opts.caseTimeoutMs,
      POLL_MS,
    );
    const peaks = rss.stop();
    result.peakRssMB = { a: peaks.a ?? null, b: peaks.b ?? null };
    result.foreignCpuSec = foreign.seconds();
    if (doneAt === null) {
      result.problems.push(`B did not have the file within ${opts.caseTimeoutMs / 1000} s`);
      return finish(result);
    }
    result.seconds = (doneAt - t0) / 1000;
    // Index updates and acknowledgements trail the data: let them land before reading the counters.
    await sleep(1000);
    const wire1 = await pair.wireBytes();
    result.wireBytes = wire0 === null || wire1 === null ? null : wire1 - wire0;
    const [da, db] = await Promise.all([sha256File(aFile), sha256File(bFile)]);
    if (da === null || da !== db) result.problems.push("SHA-256 of A's and B's copies differ");
    result.ok = result.problems.length === 0;
    return finish(result);
  };

  await pair.start();
  try {
    const needsBase = cases.some((c) => c === "delta-mid" || c === "delta-insert");
    if (cases.includes("first") || needsBase) {
      await stageCopy(w.base, staged);
      const r = await measure("first", w.size, () => rename(staged, aFile));
      if (cases.includes("first")) emit(r);
    }
    if (cases.includes("delta-mid")) {
      emit(await measure("delta-mid", w.size, () => overwriteAt(aFile, w.midOffset, w.mid)));
    }
    if (cases.includes("delta-insert")) {
      await stageCopy(aFile, staged, w.prefix);
      emit(await measure("delta-insert", w.size + w.prefix.length, () => rename(staged, aFile)));
    }
  } finally {
    await pair.stop();
  }
}
