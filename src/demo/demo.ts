/**
 * The demo's script: start three peers, drop sample files into demo/a, show them arriving at b and c,
 * verify all three folders by SHA-256, then either stop (--once) or keep the peers running for the user
 * to play with until Ctrl-C. The peers are real `left` processes, run exactly as the README says.
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { formatBytes, formatDuration } from "../cli/format.js";
import { processAlive } from "../cli/lock.js";
import type { DaemonStatus } from "../cli/monitor.js";
import { eta, RateMeter } from "../cli/rate.js";
import { Narrator } from "./narrator.js";
import { DemoPeer, LEFT_CLI } from "./peers.js";
import { freePort } from "./ports.js";
import { moveInto, writeSamples } from "./samples.js";
import { listTree, sameTree, type Tree, treeBytes, treeDiff, treeDigest } from "./trees.js";
import type { DemoView, PeerProgress } from "./view.js";

export const DEMO_PEERS = [
  { name: "a", host: "127.0.0.2" },
  { name: "b", host: "127.0.0.3" },
  { name: "c", host: "127.0.0.4" },
] as const;

export const ExitStatus = { Ok: 0, Failed: 1, Interrupted: 130 } as const;

export interface DemoOptions {
  /** Absolute path of the demo folder (its a, b and c are wiped at start). */
  root: string;
  /** Verify and exit, instead of keeping the peers running until the signal. */
  once: boolean;
  bigBytes: number;
  view: DemoView;
  /** Aborted when the user asks to stop (Ctrl-C). */
  signal: AbortSignal;
  connectTimeoutMs?: number;
  syncTimeoutMs?: number;
}

/** Something the user should be told about in one sentence, with exit 1. */
class DemoFailure extends Error {}
class Interrupted extends Error {}

/** Polls `check` until it holds; fails if a peer died, on timeout, or when the user interrupts. */
async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  peers: readonly DemoPeer[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const start = performance.now();
  for (;;) {
    if (signal.aborted) throw new Interrupted();
    const dead = peers.find((p) => !p.running);
    if (dead !== undefined) throw new DemoFailure(`peer ${dead.name} exited unexpectedly`);
    if (await check()) return;
    if (performance.now() - start > timeoutMs) {
      throw new DemoFailure(`timed out after ${formatDuration(timeoutMs / 1000)} waiting for ${what}`);
    }
    await sleep(250, undefined, { signal }).catch(() => undefined);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The pid of a daemon still running on one of the demo folders (an earlier demo not stopped), or null. */
async function runningPeer(root: string): Promise<number | null> {
  for (const { name } of DEMO_PEERS) {
    const text = await readFile(join(root, name, ".left", "daemon.pid"), "utf8").catch(() => "");
    const pid = Number.parseInt(text, 10);
    if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) return pid;
  }
  return null;
}

/** How much of the sample a receiving peer has, from its folder and its status file. */
function progressOf(
  name: string,
  tree: Tree,
  status: DaemonStatus | null,
  expected: Tree,
  meter: RateMeter,
): PeerProgress {
  let bytes = 0;
  for (const [path, what] of expected) {
    if (what.startsWith("file ") && tree.get(path) === what) bytes += Number(what.slice(5));
  }
  for (const t of status?.transfers ?? []) {
    if (expected.has(t.path) && tree.get(t.path) !== expected.get(t.path)) bytes += t.done;
  }
  const total = treeBytes(expected);
  const bytesPerSec = meter.sample(bytes, performance.now());
  return {
    name,
    bytes,
    total,
    bytesPerSec,
    etaSec: eta(total - bytes, bytesPerSec),
    pending: status?.files.needed ?? 0,
    done: status?.inSync === true && sameTree(tree, expected),
  };
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const { view } = o;
  const rel = (path: string) => relative(process.cwd(), path) || ".";
  const busy = await runningPeer(o.root);
  if (busy !== null) {
    view.say(`A demo is already running on ${rel(o.root)} (pid ${busy}): stop it (Ctrl-C) first.`);
    return ExitStatus.Failed;
  }
  for (const { name } of DEMO_PEERS) {
    await rm(join(o.root, name), { recursive: true, force: true });
    await rm(join(o.root, `${name}.log`), { force: true });
    await mkdir(join(o.root, name), { recursive: true });
  }
  const port = await freePort(DEMO_PEERS.map((p) => p.host));
  const narrator = new Narrator(view);
  const peers = DEMO_PEERS.map(
    (p) =>
      new DemoPeer(
        {
          name: p.name,
          host: p.host,
          port,
          dir: join(o.root, p.name),
          peers: DEMO_PEERS.filter((q) => q !== p).map((q) => `${q.host}:${port}`),
          logFile: join(o.root, `${p.name}.log`),
        },
        (peer, e) => narrator.onEvent(peer, e),
      ),
  );
  for (const p of peers) narrator.learn(p.name, `${p.spec.host}:${port}`);
  // Whatever happens to the demo, no daemon may outlive it.
  const killAll = () => {
    for (const p of peers) p.kill();
  };
  process.once("exit", killAll);

  let code: number = ExitStatus.Ok;
  let verified = false;
  try {
    view.say("LEFT demo: three peers on this machine, each keeping its own folder in sync with the others.");
    for (const p of peers) {
      view.say(`  ${p.name}  ${p.spec.host}:${port}  ${rel(p.spec.dir)}/`);
      p.start();
    }
    await connect(peers, narrator, o);
    await syncSamples(peers, narrator, o);
    await verify(peers, view);
    verified = true;
    if (!o.once) {
      tryNext(view, rel);
      await new Promise((resolve) => o.signal.addEventListener("abort", resolve, { once: true }));
    }
  } catch (err) {
    view.endProgress();
    if (err instanceof Interrupted) {
      code = o.once && !verified ? ExitStatus.Interrupted : ExitStatus.Ok;
    } else if (err instanceof DemoFailure) {
      view.say(`\nDemo FAILED: ${err.message}`);
      for (const p of peers)
        view.say(`  last lines of ${rel(p.spec.logFile)}:\n    ${p.tail.slice(-5).join("\n    ")}`);
      code = ExitStatus.Failed;
    } else {
      throw err;
    }
  } finally {
    // After a Ctrl-C the terminal has echoed "^C" at the start of the line.
    view.say(`${o.signal.aborted ? "\n" : ""}Stopping the peers (SIGTERM)…`);
    const exits = await Promise.all(peers.map((p) => p.stop()));
    process.off("exit", killAll);
    const bad = peers.filter((_, i) => exits[i] !== 0);
    if (bad.length === 0) view.say("All three peers stopped cleanly.");
    else {
      view.say(
        `${bad.map((p, i) => `${p.name} exited with ${exits[i]}`).join(", ")}: see its log in ${rel(o.root)}/`,
      );
      code = ExitStatus.Failed;
    }
  }
  return code;
}

async function connect(peers: readonly DemoPeer[], narrator: Narrator, o: DemoOptions): Promise<void> {
  const start = performance.now();
  await pollUntil(
    "the peers to connect to each other",
    async () => {
      const statuses = await Promise.all(peers.map((p) => p.status()));
      for (const [i, s] of statuses.entries()) {
        if (s !== null) narrator.learn(peers[i]!.name, s.deviceId);
      }
      return statuses.every((s) => s?.peers.every((p) => p.connected) === true);
    },
    peers,
    o.connectTimeoutMs ?? 30_000,
    o.signal,
  );
  o.view.say(`All three peers are connected to each other (${seconds(performance.now() - start)}).\n`);
}

async function syncSamples(peers: readonly DemoPeer[], narrator: Narrator, o: DemoOptions): Promise<void> {
  const { view } = o;
  const [source, ...receivers] = peers;
  const staging = join(o.root, ".staging");
  await rm(staging, { recursive: true, force: true });
  const sample = await writeSamples(staging, o.bigBytes);
  const expected = await listTree(staging, false);
  view.say(
    `Dropping sample files into ${source!.name}: ${sample.bigFile} (${formatBytes(sample.bigBytes)} of random bytes) ` +
      `and tree/ (${sample.smallFiles} small files in ${sample.folders} folders, ${sample.emptyFolders} of them empty).`,
  );
  await moveInto(staging, source!.spec.dir);
  await rm(staging, { recursive: true, force: true });
  view.say(`Watching them arrive at ${receivers.map((p) => p.name).join(" and ")}:`);
  const start = performance.now();
  const doneAfter = new Map<string, number>();
  const meters = new Map(receivers.map((p) => [p.name, new RateMeter(1000)]));
  // On a terminal the bars tell the story; per-file lines would push them around.
  narrator.fileEvents = !view.live;
  try {
    await pollUntil(
      `${receivers.map((p) => p.name).join(" and ")} to receive the sample files`,
      async () => {
        const rows = await Promise.all(
          receivers.map(async (p) => {
            const [tree, status] = await Promise.all([listTree(p.spec.dir, false), p.status()]);
            return progressOf(p.name, tree, status, expected, meters.get(p.name)!);
          }),
        );
        view.progress(rows);
        for (const r of rows)
          if (r.done && !doneAfter.has(r.name)) doneAfter.set(r.name, performance.now() - start);
        return rows.every((r) => r.done);
      },
      peers,
      o.syncTimeoutMs ?? 120_000,
      o.signal,
    );
  } finally {
    view.endProgress();
    narrator.fileEvents = true;
  }
  const times = receivers.map((p) => `${p.name} after ${seconds(doneAfter.get(p.name)!)}`).join(", ");
  view.say(`Everything arrived: ${times}.\n`);
}

async function verify(peers: readonly DemoPeer[], view: DemoView): Promise<void> {
  view.say("Verifying: SHA-256 of every file, and of each folder's whole listing:");
  const trees = await Promise.all(peers.map((p) => listTree(p.spec.dir, true)));
  const first = trees[0]!;
  const firstDigest = treeDigest(first);
  const different: string[] = [];
  for (const [i, tree] of trees.entries()) {
    const digest = treeDigest(tree);
    const verdict = i === 0 ? "" : digest === firstDigest ? `  = ${peers[0]!.name}` : "  DIFFERENT";
    view.say(
      `  ${peers[i]!.name}  ${tree.size} entries, ${formatBytes(treeBytes(tree))}, SHA-256 ${digest.slice(0, 16)}…${verdict}`,
    );
    if (digest !== firstDigest) different.push(`${peers[i]!.name}: ${treeDiff(first, tree).join("; ")}`);
  }
  if (different.length > 0)
    throw new DemoFailure(`the folders differ from ${peers[0]!.name}: ${different.join(" | ")}`);
  view.say("All three folders are identical.\n");
}

function tryNext(view: DemoView, rel: (path: string) => string): void {
  // Relative when run from the repository (npm run demo), else absolute: "../../x" helps nobody.
  const cli = rel(LEFT_CLI).startsWith("..") ? LEFT_CLI : rel(LEFT_CLI);
  view.say(
    [
      "The peers keep running. Try, in another terminal:",
      "  echo hello > demo/a/hello.txt            appears in demo/b and demo/c",
      "  mkdir -p demo/c/from-c && date > demo/c/from-c/now.txt   any peer's changes reach the others",
      "  rm demo/b/big.bin                        deletions travel too",
      `  node ${cli} status --dir demo/b   what a peer is doing`,
      "Peer logs (JSON lines): demo/a.log, demo/b.log, demo/c.log. Press Ctrl-C to stop.\n",
    ].join("\n"),
  );
}
