/**
 * rsync on the same data, as /work/shared/bench/rsync_bench.sh runs it: an rsync daemon on 127.0.0.2
 * receives, the client pushes from 127.0.0.1 with `rsync -a --stats`. Timed: the client command, which
 * returns once the daemon has renamed the file into place (or, with --inplace, written it). Wire: the
 * client's "Total bytes sent" + "Total bytes received". Peak RSS: a = the client, b = the daemon's
 * process for the connection (its generator and receiver are forks of it, sharing most pages).
 *
 * rsync decides what to send by size and mtime, so every edit is made ≥ 1.1 s after the last transfer.
 * delta-mid runs twice: the default (rebuild the file in a temp copy and rename), then, with another
 * 1 MiB edit at the same place, --inplace. rsync has no resume case here.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileState, overwriteAt, sha256File, stageCopy, type Workload, waitFor, warm } from "./sync-data.js";
import { Child, ForeignCpu, RssSampler, run, waitQuiet } from "./sync-procs.js";
import {
  type CaseName,
  type CaseResult,
  finish,
  newResult,
  type ToolOptions,
  type ToolVariant,
} from "./sync-report.js";

const SERVER = "127.0.0.2";
const CLIENT = "127.0.0.1";
const FILE = "f.bin";

function statsNumber(out: string, label: string): number | null {
  const m = new RegExp(`^${label}: ([\\d,]+)`, "m").exec(out);
  return m === null ? null : Number(m[1]!.replaceAll(",", ""));
}

export async function runRsync(
  w: Workload,
  cases: readonly CaseName[],
  opts: ToolOptions,
  emit: (r: CaseResult) => void,
): Promise<void> {
  const src = join(opts.work, "src");
  const recv = join(opts.work, "recv");
  await mkdir(src, { recursive: true });
  await mkdir(recv, { recursive: true });
  let daemon: Child | null = null;
  let url = "";
  for (let attempt = 1; daemon === null; attempt++) {
    const port = 24800 + Math.floor(Math.random() * 100);
    const conf = join(opts.work, "rsyncd.conf");
    await writeFile(
      conf,
      [
        `address = ${SERVER}`,
        `port = ${port}`,
        "use chroot = false",
        // As root the daemon would otherwise write as nobody, into a folder nobody cannot write.
        "uid = root",
        "gid = root",
        "max connections = 4",
        `log file = ${join(opts.logs, "rsyncd.log")}`,
        "[recv]",
        `    path = ${recv}`,
        "    read only = false",
      ].join("\n"),
    );
    const child = Child.start("rsync", ["--daemon", "--no-detach", `--config=${conf}`], {
      logPath: join(opts.logs, "rsyncd.out"),
      lifetimeS: opts.lifetimeS,
    });
    const up = await waitFor(
      async () =>
        (await run("rsync", [`--address=${CLIENT}`, `rsync://${SERVER}:${port}/`], 5000)).code === 0
          ? true
          : null,
      Date.now() + 10_000,
      100,
    );
    if (up) {
      daemon = child;
      url = `rsync://${SERVER}:${port}/recv/`;
    } else {
      await child.stop("SIGTERM", 2000);
      if (attempt === 3) throw new Error("rsync daemon did not start (see rsyncd.out)");
    }
  }

  const srcFile = join(src, FILE);
  const recvFile = join(recv, FILE);
  const push = async (name: CaseName, tool: ToolVariant, extra: string[]): Promise<CaseResult> => {
    const result = newResult(name, tool, 0);
    await warm([srcFile, recvFile]);
    await waitQuiet(opts.quietMaxS);
    let clientPid: number | null = null;
    const rss = new RssSampler(() => ({ a: clientPid, b: daemon!.leafPid() }));
    const foreign = new ForeignCpu();
    const t0 = performance.now();
    const { code, out } = await run(
      "rsync",
      ["-a", "--stats", `--address=${CLIENT}`, ...extra, srcFile, url],
      opts.caseTimeoutMs,
      (pid) => {
        clientPid = pid;
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    const peaks = rss.stop();
    result.foreignCpuSec = foreign.seconds();
    result.peakRssMB = { a: peaks.a ?? null, b: peaks.b ?? null };
    if (code !== 0) {
      result.problems.push(`rsync exited with ${code}: ${out.trim().split("\n").slice(-3).join(" | ")}`);
      return finish(result);
    }
    result.seconds = seconds;
    const sent = statsNumber(out, "Total bytes sent");
    const received = statsNumber(out, "Total bytes received");
    result.wireBytes = sent === null || received === null ? null : sent + received;
    const [a, b] = await Promise.all([sha256File(srcFile), sha256File(recvFile)]);
    result.bytes = fileState(recvFile)?.size ?? 0;
    if (a === null || a !== b) result.problems.push("SHA-256 of source and destination differ");
    result.ok = result.problems.length === 0;
    return finish(result);
  };

  try {
    const needsBase = cases.some((c) => c === "delta-mid" || c === "delta-insert");
    if (cases.includes("first") || needsBase) {
      await stageCopy(w.base, srcFile);
      const r = await push("first", "rsync", []);
      if (cases.includes("first")) emit(r);
    }
    if (cases.includes("delta-mid")) {
      await sleep(1100);
      await overwriteAt(srcFile, w.midOffset, w.mid);
      emit(await push("delta-mid", "rsync", []));
      await sleep(1100);
      await overwriteAt(srcFile, w.midOffset, w.midAgain);
      emit(await push("delta-mid", "rsync --inplace", ["--inplace"]));
    }
    if (cases.includes("delta-insert")) {
      await sleep(1100);
      const staged = join(opts.work, `${FILE}.new`);
      await stageCopy(srcFile, staged, w.prefix);
      await rename(staged, srcFile);
      emit(await push("delta-insert", "rsync", []));
    }
  } finally {
    await daemon.stop("SIGTERM", 5000);
  }
}
