/**
 * Runs the lossy relay as its own process, so that benchmarks do not share an event loop with it:
 *
 *   node dist/test/helpers/relay-cli.js --a 127.0.0.10:23000 --b 127.0.0.11:23001 \
 *     --target 127.0.0.3:23002 [--loss P] [--duplicate P] [--reorder P] [--reorder-gap N] \
 *     [--delay MS] [--jitter MS] [--corrupt P] [--seed N] [--blackout AT_MS:DURATION_MS ...]
 *
 * Prints `{"ready":true,"a":{…},"b":{…}}` once both sockets are bound (or `{"error":"…"}`, exit 2).
 * The relay lives as long as its stdin stays open (so it cannot outlive a parent that dies), then
 * prints `{"stats":{…},"cpuMs":…}` (its CPU time, user + system) and exits. A line `blackout MS` on
 * stdin drops everything for MS milliseconds from now (an outage at a moment the test chooses).
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { type LinkConditions, type SocketAddress, startRelay } from "./relay.js";

function address(flag: string, value: string | undefined): SocketAddress {
  const match = value === undefined ? null : /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(value);
  if (match === null) throw new Error(`--${flag} must be IPV4:PORT, got ${value}`);
  return { host: match[1]!, port: Number(match[2]) };
}

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      a: { type: "string" },
      b: { type: "string" },
      target: { type: "string" },
      seed: { type: "string" },
      loss: { type: "string" },
      duplicate: { type: "string" },
      reorder: { type: "string" },
      "reorder-gap": { type: "string" },
      delay: { type: "string" },
      jitter: { type: "string" },
      corrupt: { type: "string" },
      blackout: { type: "string", multiple: true },
    },
    strict: true,
  });
  const conditions: Partial<LinkConditions> = {};
  const knobs: [keyof LinkConditions, string | undefined][] = [
    ["loss", values.loss],
    ["duplicate", values.duplicate],
    ["reorder", values.reorder],
    ["reorderGap", values["reorder-gap"]],
    ["delayMs", values.delay],
    ["jitterMs", values.jitter],
    ["corrupt", values.corrupt],
  ];
  for (const [key, raw] of knobs) {
    const n = number(key, raw);
    if (n !== undefined) conditions[key] = n;
  }
  const blackouts = (values.blackout ?? []).map((spec) => {
    const [at, duration] = spec.split(":").map(Number);
    if (!Number.isFinite(at) || !Number.isFinite(duration))
      throw new Error(`--blackout must be AT_MS:DURATION_MS`);
    return { atMs: at!, durationMs: duration! };
  });

  const relay = await startRelay({
    ...conditions,
    a: address("a", values.a),
    b: address("b", values.b),
    target: address("target", values.target),
    seed: number("seed", values.seed) ?? 1,
    blackouts,
  });
  process.stdout.write(`${JSON.stringify({ ready: true, a: relay.a, b: relay.b })}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const stats = relay.stats();
    const cpu = process.cpuUsage();
    await relay.close();
    process.stdout.write(`${JSON.stringify({ stats, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  createInterface({ input: process.stdin }).on("line", (line) => {
    const [command, ms] = line.trim().split(/\s+/);
    const durationMs = Number(ms);
    if (command === "blackout" && durationMs >= 0) relay.blackout(durationMs);
    else process.stderr.write(`relay: unknown command ${JSON.stringify(line)}\n`);
  });
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exit(2);
});
