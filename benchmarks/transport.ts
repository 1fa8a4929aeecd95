/**
 * Transport throughput, memory to memory, against a TCP baseline in the same run:
 *
 *   npm run bench:transport -- --size 1G [--loss 0.05] [--window N] [--packet-size B] [--json]
 *                              [--encryption yes] [--tcp no] [--cpu-prof DIR] [--node-flags "--trace-gc …"]
 *
 * Sender (127.0.0.2) and receiver (127.0.0.3) are separate processes (benchmarks/transport-peer.ts).
 * With any relay knob (--loss, --duplicate, --reorder, --corrupt, --delay, --jitter) or --relay, the UDP
 * traffic goes through the lossy relay in a third process. Then the same bytes go over one node:net TCP
 * connection between two fresh processes on the same addresses, in 64 KiB writes (skipped with --tcp no).
 * With --encryption yes both UDP ends seal every packet (pskSecurity, a random master key) instead of
 * the plaintext checksum. With --cpu-prof DIR the UDP peers write V8 CPU profiles there
 * (`node dist/benchmarks/sync-profile.js DIR` summarises them); --node-flags are passed to both UDP peers.
 * Prints one JSON line: {"bytes","seconds","MBps","tcpMBps","ratio","retransmitted","senderCpuMs",
 * "receiverCpuMs","loss","encryption","ok"} (MB = 10^6 bytes; CPU of the UDP ends); with --json nothing else.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultPacketSize } from "../src/transport/packet-size.js";
import type { ConnectionStats, PeerAddress } from "../src/transport/types.js";
import type { FromPeer, PeerConfig, PeerRole, ToPeer } from "./transport-ipc.js";
import { MiB, parseSize, TCP_WRITE_BYTES } from "./transport-payload.js";

const SENDER_HOST = "127.0.0.2";
const RECEIVER_HOST = "127.0.0.3";
const RELAY_A_HOST = "127.0.0.10";
const RELAY_B_HOST = "127.0.0.11";
/** Same default as the daemon: 8 MiB in flight per connection. */
const DEFAULT_WINDOW_BYTES = 8 * MiB;
const peerScript = new URL("./transport-peer.js", import.meta.url);
const relayScript = new URL("../test/helpers/relay-cli.js", import.meta.url);

interface RelayKnobs {
  loss: number;
  duplicate: number;
  reorder: number;
  corrupt: number;
  delay: number;
  jitter: number;
  seed: number;
}

interface BenchOptions {
  size: number;
  window: number;
  packetSize: number;
  relay: RelayKnobs | null;
  json: boolean;
  encryption: boolean;
  /** Also run the TCP baseline. */
  tcp: boolean;
  /** Node flags for the UDP peers (--cpu-prof and --node-flags). */
  udpNodeFlags: string[];
  cpuProfDir: string | null;
  /** Bound on each phase (UDP, TCP). */
  timeoutMs: number;
}

interface PhaseResult {
  seconds: number;
  ok: boolean;
  problems: string[];
  retransmitted: number;
  packetsSent: number;
  /** CPU time (user + system) of each end; unlike throughput, barely affected by other load. */
  senderCpuMs: number;
  receiverCpuMs: number;
  /** The sender's connection at the end (UDP only): what its congestion controller had settled on. */
  connection: ConnectionStats | null;
  relayStats: string | null;
}

function probability(flag: string, raw: string | undefined): number {
  const p = raw === undefined ? 0 : Number(raw);
  if (!(p >= 0 && p <= 1)) throw new Error(`--${flag} must be in [0, 1], got ${raw}`);
  return p;
}

function nonNegative(flag: string, raw: string | undefined, fallback: number): number {
  const n = raw === undefined ? fallback : Number(raw);
  if (!(n >= 0 && Number.isFinite(n))) throw new Error(`--${flag} must be a non-negative number, got ${raw}`);
  return n;
}

function yesNo(flag: string, raw: string): boolean {
  if (raw !== "yes" && raw !== "no") throw new Error(`--${flag} must be yes or no, got ${raw}`);
  return raw === "yes";
}

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: "string", default: "256M" },
      window: { type: "string" },
      "packet-size": { type: "string" },
      loss: { type: "string" },
      duplicate: { type: "string" },
      reorder: { type: "string" },
      corrupt: { type: "string" },
      delay: { type: "string" },
      jitter: { type: "string" },
      seed: { type: "string" },
      relay: { type: "boolean", default: false },
      timeout: { type: "string" },
      json: { type: "boolean", default: false },
      encryption: { type: "string", default: "no" },
      tcp: { type: "string", default: "yes" },
      "cpu-prof": { type: "string" },
      "node-flags": { type: "string", default: "" },
    },
    strict: true,
  });
  const size = parseSize(values.size);
  const encryption = yesNo("encryption", values.encryption);
  const tcp = yesNo("tcp", values.tcp);
  const cpuProfDir = values["cpu-prof"] === undefined ? null : resolve(values["cpu-prof"]);
  const profiling = cpuProfDir === null ? [] : ["--cpu-prof", "--cpu-prof-dir", cpuProfDir];
  const packetSize = defaultPacketSize(
    RECEIVER_HOST,
    values["packet-size"] === undefined ? undefined : Number(values["packet-size"]),
  );
  const window = nonNegative("window", values.window, Math.ceil(DEFAULT_WINDOW_BYTES / packetSize));
  if (!Number.isInteger(window) || window < 1) throw new Error(`--window must be a whole number of packets`);
  const knobs: RelayKnobs = {
    loss: probability("loss", values.loss),
    duplicate: probability("duplicate", values.duplicate),
    reorder: probability("reorder", values.reorder),
    corrupt: probability("corrupt", values.corrupt),
    delay: nonNegative("delay", values.delay, 0),
    jitter: nonNegative("jitter", values.jitter, 0),
    seed: nonNegative("seed", values.seed, 1),
  };
  const impaired =
    knobs.loss + knobs.duplicate + knobs.reorder + knobs.corrupt + knobs.delay + knobs.jitter > 0;
  // Generous: 30 s of set-up and hashing plus 10 MB/s, far below any healthy transport.
  const timeoutMs = nonNegative("timeout", values.timeout, 30 + size / 10e6) * 1000;
  return {
    size,
    window,
    packetSize,
    relay: impaired || values.relay ? knobs : null,
    json: values.json,
    encryption,
    tcp,
    udpNodeFlags: [...profiling, ...values["node-flags"].split(" ").filter((f) => f !== "")],
    cpuProfDir,
    timeoutMs,
  };
}

/** A peer process and the messages it has posted, awaited by type. */
class PeerProcess {
  private readonly inbox: FromPeer[] = [];
  private waiter: (() => void) | null = null;
  private exited: string | null = null;

  constructor(private readonly child: ChildProcess) {
    child.on("message", (msg: FromPeer) => {
      this.inbox.push(msg);
      this.waiter?.();
    });
    child.on("exit", (code, signal) => {
      this.exited = `exited with ${signal ?? code}`;
      this.waiter?.();
    });
  }

  static start(config: PeerConfig, execArgv: string[]): PeerProcess {
    return new PeerProcess(
      fork(peerScript, [JSON.stringify(config)], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        execArgv,
      }),
    );
  }

  send(msg: ToPeer): void {
    this.child.send(msg);
  }

  async expect<T extends FromPeer["type"]>(type: T): Promise<Extract<FromPeer, { type: T }>> {
    for (;;) {
      const msg = this.inbox.shift();
      if (msg?.type === type) return msg as Extract<FromPeer, { type: T }>;
      if (msg?.type === "error") throw new Error(msg.message);
      if (msg !== undefined) throw new Error(`expected "${type}", got "${msg.type}"`);
      if (this.exited !== null) throw new Error(`peer ${this.exited} before "${type}"`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = null;
    }
  }

  kill(): void {
    if (this.exited === null) this.child.kill("SIGKILL");
  }

  async exit(): Promise<void> {
    if (this.exited === null && this.child.exitCode === null) await once(this.child, "exit");
  }
}

/** The relay in its own process, so that it does not share a core's event loop with either end. */
class RelayProcess {
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      this.waiter?.();
    });
    child.on("exit", () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static async start(
    a: PeerAddress,
    b: PeerAddress,
    target: PeerAddress,
    knobs: RelayKnobs,
  ): Promise<RelayProcess> {
    const args = [
      `--a=${a.host}:${a.port}`,
      `--b=${b.host}:${b.port}`,
      `--target=${target.host}:${target.port}`,
      `--loss=${knobs.loss}`,
      `--duplicate=${knobs.duplicate}`,
      `--reorder=${knobs.reorder}`,
      `--corrupt=${knobs.corrupt}`,
      `--delay=${knobs.delay}`,
      `--jitter=${knobs.jitter}`,
      `--seed=${knobs.seed}`,
    ];
    const relay = new RelayProcess(
      spawn(process.execPath, [fileURLToPath(relayScript), ...args], { stdio: ["pipe", "pipe", "inherit"] }),
    );
    const ready = await relay.line();
    if (!ready.includes('"ready":true')) throw new Error(`relay did not start: ${ready}`);
    return relay;
  }

  /** Ends the relay (by closing its stdin) and returns its final statistics line. */
  async stop(): Promise<string> {
    this.child.stdin!.end();
    return this.line();
  }

  kill(): void {
    if (!this.closed) this.child.kill("SIGKILL");
  }

  private async line(): Promise<string> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.closed) throw new Error("relay exited");
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = null;
    }
  }
}

/** Runs `body` with a deadline; on expiry every process is killed, which makes `body` fail too. */
async function bounded<T>(ms: number, what: string, kill: () => void, body: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      kill();
      reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`));
    }, ms);
  });
  try {
    return await Promise.race([body(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Moves the stream once between two peer processes; `transport` is "udp" or "tcp". */
async function runPhase(transport: "udp" | "tcp", opts: BenchOptions, base: number): Promise<PhaseResult> {
  const receiverAddr = { host: RECEIVER_HOST, port: base };
  const senderAddr = { host: SENDER_HOST, port: base + 1 };
  const relayA = { host: RELAY_A_HOST, port: base + 2 };
  const relayB = { host: RELAY_B_HOST, port: base + 3 };
  const viaRelay = transport === "udp" && opts.relay !== null;
  const masterKey = transport === "udp" && opts.encryption ? randomBytes(32).toString("hex") : null;
  const execArgv = transport === "udp" ? opts.udpNodeFlags : [];
  const peerConfig = (role: PeerRole, bind: PeerAddress, peer: PeerAddress): PeerConfig => ({
    role,
    bind,
    peer,
    size: opts.size,
    window: opts.window,
    packetSize: opts.packetSize,
    masterKey,
  });
  const processes: { kill(): void }[] = [];
  const killAll = () => {
    for (const p of processes) p.kill();
  };

  return bounded(opts.timeoutMs, `${transport} transfer`, killAll, async () => {
    try {
      const relay = viaRelay ? await RelayProcess.start(relayA, relayB, receiverAddr, opts.relay!) : null;
      if (relay !== null) processes.push(relay);
      const receiver = PeerProcess.start(
        peerConfig(`${transport}-recv`, receiverAddr, viaRelay ? relayB : senderAddr),
        execArgv,
      );
      processes.push(receiver);
      const receiverUp = receiver.expect("up");
      // A TCP sender connects at once, so the receiver must be listening first.
      if (transport === "tcp") await receiverUp;
      const sender = PeerProcess.start(
        peerConfig(`${transport}-send`, senderAddr, viaRelay ? relayA : receiverAddr),
        execArgv,
      );
      processes.push(sender);
      await Promise.all([sender.expect("up"), receiverUp]);

      sender.send({ type: "go" });
      const [sent, received] = await Promise.all([sender.expect("sent"), receiver.expect("received")]);
      sender.send({ type: "finish" });
      const senderDone = await sender.expect("done");
      receiver.send({ type: "finish" });
      const receiverDone = await receiver.expect("done");
      const relayStats = relay === null ? null : await relay.stop();
      await Promise.all([sender.exit(), receiver.exit()]);

      const problems: string[] = [];
      if (receiverDone.digest !== sent.digest)
        problems.push(`${transport}: SHA-256 of received bytes differs`);
      if (received.bytes !== opts.size) problems.push(`${transport}: ${received.bytes} bytes received`);
      if (received.duplicates > 0)
        problems.push(`${transport}: ${received.duplicates} messages delivered twice`);
      if (received.malformed > 0) problems.push(`${transport}: ${received.malformed} malformed messages`);
      return {
        seconds: (received.endedAt - sent.startedAt) / 1000,
        ok: problems.length === 0,
        problems,
        retransmitted: senderDone.endpoint?.packetsRetransmitted ?? 0,
        packetsSent: senderDone.endpoint?.packetsSent ?? 0,
        senderCpuMs: senderDone.cpuMs,
        connection: senderDone.connection,
        receiverCpuMs: receiverDone.cpuMs,
        relayStats,
      };
    } finally {
      killAll();
    }
  });
}

function cpuSummary(phase: PhaseResult, bytes: number): string {
  const perByte = (ms: number) => `${ms.toFixed(0)} ms = ${((ms * 1e6) / bytes).toFixed(2)} ns/B`;
  return `CPU: sender ${perByte(phase.senderCpuMs)}, receiver ${perByte(phase.receiverCpuMs)}`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Ports 23000–23999 belong to this benchmark; a random slot keeps back-to-back runs clear of TIME_WAIT,
 * and a slot some other process holds is given up for another.
 */
async function runPhaseOnFreePorts(transport: "udp" | "tcp", opts: BenchOptions): Promise<PhaseResult> {
  for (let attempt = 1; ; attempt++) {
    const base = 23000 + Math.floor(Math.random() * 250) * 4;
    try {
      return await runPhase(transport, opts, base);
    } catch (err) {
      if (attempt === 3 || !(err instanceof Error && err.message.includes("EADDRINUSE"))) throw err;
    }
  }
}

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`bench:transport: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
    return;
  }
  const loss = opts.relay?.loss ?? 0;
  const line: Record<string, number | boolean | string | null> = {
    bytes: opts.size,
    seconds: null,
    MBps: null,
    tcpMBps: null,
    ratio: null,
    retransmitted: null,
    senderCpuMs: null,
    receiverCpuMs: null,
    loss,
    encryption: opts.encryption,
    ok: false,
  };
  try {
    if (opts.cpuProfDir !== null) mkdirSync(opts.cpuProfDir, { recursive: true });
    const udp = await runPhaseOnFreePorts("udp", opts);
    const tcp = opts.tcp ? await runPhaseOnFreePorts("tcp", opts) : null;
    const MBps = opts.size / 1e6 / udp.seconds;
    const tcpMBps = tcp === null ? null : opts.size / 1e6 / tcp.seconds;
    Object.assign(line, {
      seconds: round(udp.seconds, 3),
      MBps: round(MBps, 1),
      tcpMBps: tcpMBps === null ? null : round(tcpMBps, 1),
      ratio: tcpMBps === null ? null : round(MBps / tcpMBps, 3),
      retransmitted: udp.retransmitted,
      senderCpuMs: Math.round(udp.senderCpuMs),
      receiverCpuMs: Math.round(udp.receiverCpuMs),
      ok: udp.ok && (tcp?.ok ?? true),
    });
    if (!opts.json) {
      const path = opts.relay === null ? "direct" : `via relay (${JSON.stringify(opts.relay)})`;
      const sealing = opts.encryption ? "encrypted" : "plaintext checksum";
      console.log(
        `LEFT transport: ${opts.size} B in ${udp.seconds.toFixed(3)} s = ${MBps.toFixed(1)} MB/s, ${path}, ` +
          `packet ${opts.packetSize} B, window ${opts.window} packets, ${sealing}`,
      );
      console.log(
        `  sender: ${udp.packetsSent} packets sent, ${udp.retransmitted} retransmitted ` +
          `(${((100 * udp.retransmitted) / Math.max(1, udp.packetsSent)).toFixed(2)} %)`,
      );
      console.log(`  ${cpuSummary(udp, opts.size)}`);
      const c = udp.connection;
      if (c !== null) {
        console.log(
          `  sender's connection at the end: srtt ${c.srttMs.toFixed(2)} ms, cwnd ${c.cwndPackets.toFixed(0)} packets, ` +
            `pacing ${c.pacingRateMBps.toFixed(0)} MB/s, bandwidth estimate ${c.bandwidthMBps.toFixed(0)} MB/s`,
        );
      }
      if (udp.relayStats !== null) console.log(`  relay: ${udp.relayStats}`);
      if (tcp !== null && tcpMBps !== null) {
        console.log(
          `TCP baseline: ${tcp.seconds.toFixed(3)} s = ${tcpMBps.toFixed(1)} MB/s (${TCP_WRITE_BYTES} B writes)`,
        );
        console.log(`  ${cpuSummary(tcp, opts.size)}`);
        console.log(`ratio ${(MBps / tcpMBps).toFixed(3)}`);
      }
      for (const p of [...udp.problems, ...(tcp?.problems ?? [])]) console.log(`PROBLEM: ${p}`);
      console.log(line.ok ? "digests match" : "NOT OK");
    }
  } catch (err) {
    line.error = err instanceof Error ? err.message : String(err);
  }
  console.log(JSON.stringify(line));
  process.exitCode = line.ok ? 0 : 1;
}

await main();
