/**
 * Command-line parsing: turns argv into a validated command, or a one-line usage error naming the flag.
 * Nothing here touches the network or the share; the only I/O is reading --key-file and asking which
 * file system --dir is on, so that a bad key or an impossible folder is a usage error (exit 2) before
 * anything starts.
 */
import { existsSync, statfsSync } from "node:fs";
import { isIPv4 } from "node:net";
import { dirname, resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { AEAD_BACKENDS, type AeadBackend } from "../crypto/aead.js";
import { KeyError, type KeyErrorCode, type ResolvedKey, resolveKey } from "../crypto/key.js";
import type { CompressMode } from "../sync/compress.js";
import { MAX_BLOCK_BYTES } from "../sync/protocol.js";
import type { PeerAddress } from "../transport/types.js";
import type { LogLevel } from "../util/log.js";
import { MIN_PACKET_SIZE } from "../wire/handshake.js";
import { MAX_DATAGRAM } from "../wire/header.js";

export const ExitCode = {
  Ok: 0,
  /** Runtime failure: cannot bind, cannot open the index, unexpected error. */
  Failure: 1,
  /** Bad command line: unknown flag, invalid value, missing key. */
  Usage: 2,
} as const;

export const DEFAULT_PORT = 22001;
export const MIN_PORT = 20000;
export const MAX_PORT = 30000;
/**
 * 64 KiB: a 1 MiB edit of a big file re-sends ≈1.18 MB (median; at most 1.54 MB in 40 trials), where
 * 128 KiB blocks re-send ≈1.29 MB with one edit in five above 1.5 MiB (docs/CHUNKING.md). Runs keep
 * the per-block costs of the transfer itself low; the price is twice the index rows per file.
 */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
export const MIN_BLOCK_SIZE = 4 * 1024;
/** Blocks reach 4 × the average: the largest must still fit one bulk message. */
export const MAX_BLOCK_SIZE = MAX_BLOCK_BYTES / 4;
export const MAX_WINDOW = 65536;

export type LogFormat = "text" | "json";

export interface RunOptions {
  /** Absolute path of the share folder. */
  dir: string;
  bind: string;
  port: number;
  peers: PeerAddress[];
  /** The PSK passphrase when encryption is on, else null. */
  key: ResolvedKey | null;
  /** Packets in flight per connection; undefined leaves the transport's default. */
  window: number | undefined;
  blockSize: number;
  /** UDP payload size; undefined picks the transport's default for the bind address. */
  packetSize: number | undefined;
  crypto: AeadBackend;
  compress: CompressMode;
  logFormat: LogFormat;
  logLevel: LogLevel;
}

export type CliCommand =
  | { kind: "run"; options: RunOptions }
  | { kind: "status"; dir: string; json: boolean }
  /** Help or version was printed, or a usage error was reported: exit with this code. */
  | { kind: "exit"; code: number };

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

function integerIn(min: number, max: number, what: string): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

const parsePort = integerIn(MIN_PORT, MAX_PORT, "port");
const SUFFIX: Record<string, number> = { "": 1, k: 1024, m: 1024 * 1024 };

/** A byte count: plain bytes, or with a K/M suffix (binary: 128K = 131072). */
function bytesIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const m = /^(\d+)([kKmM]?)(?:i?[bB])?$/.exec(value);
    const n = m ? Number(m[1]) * SUFFIX[m[2]!.toLowerCase()]! : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a size from ${min} to ${max} bytes (suffix K or M allowed).`);
    }
    return n;
  };
}

function parseIPv4(value: string): string {
  if (!isIPv4(value)) throw new InvalidArgumentError("must be an IPv4 address.");
  return value;
}

/** `ip[,ip:port...]`; a peer without a port gets our own port, filled in once --port is known. */
function parsePeers(value: string): PeerAddress[] {
  const peers: PeerAddress[] = [];
  for (const item of value.split(",")) {
    const m = /^([^:]+)(?::(\d+))?$/.exec(item.trim());
    if (!m || !isIPv4(m[1]!)) throw new InvalidArgumentError(`"${item}" is not ip or ip:port.`);
    const port = m[2] === undefined ? 0 : parsePort(m[2]);
    peers.push({ host: m[1]!, port });
  }
  return peers;
}

/**
 * Kernel pseudo file systems by statfs type: no folder can be created in them. procfs answers mkdir with
 * ENOENT although the parent exists, on which Node's recursive mkdir (the daemon's first step) retries
 * forever, so such a --dir must be refused before the daemon starts.
 */
const PSEUDO_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
]);

/** Why no share can live at `dir` (absolute), or null; problems the daemon reports itself pass as null. */
function impossibleShare(dir: string): string | null {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let type: number;
  try {
    type = statfsSync(existing).type;
  } catch {
    return null;
  }
  const fs = PSEUDO_FILE_SYSTEMS.get(type);
  if (fs === undefined) return null;
  return `--dir ${dir}: ${existing} is on the kernel's ${fs} file system, where no folder can be created: choose a folder on a disk`;
}

const EXAMPLES = `
Examples:
  # Two hosts keeping ~/share identical (run the mirror image on 192.0.2.11):
  left --dir ~/share --ip 192.0.2.11

  # Three peers on one machine (loopback addresses), each naming the two others:
  left --dir /srv/a --bind 127.0.0.2 --ip 127.0.0.3,127.0.0.4
  left --dir /srv/b --bind 127.0.0.3 --ip 127.0.0.2,127.0.0.4
  left --dir /srv/c --bind 127.0.0.4 --ip 127.0.0.2,127.0.0.3

  # Encrypted (every peer needs the same key and --encryption yes), a peer on another port:
  left --dir ~/share --encryption yes --key-file ~/.left-key --ip 192.0.2.11:22002

  # What is this host doing?
  left status --dir ~/share

Output:
  On a terminal: a live summary line and one bar per file being downloaded, log lines above.
  Otherwise (or with --log-format json): one log line per event: peer up/down, file synced,
  conflict, warning, error.

Environment:
  LEFT_KEY   pre-shared key (used when neither --key nor --key-file is given)

Exit codes:
  0  clean shutdown (SIGINT/SIGTERM: current writes finish first), or help printed
  1  runtime failure (port in use, unusable --dir, index cannot be opened, another left on --dir)
  2  invalid command line (unknown flag, bad value, encryption without a key)
`;

const STATUS_EXAMPLES = `
Examples:
  left status --dir ~/share          # peers, what is pending, throughput, downloads, recent problems
  left status --dir ~/share --json   # the raw status.json, for scripts (e.g. | jq .inSync)

Exit codes:
  0  the daemon is running (status printed)
  1  no daemon is running on this folder (its last status is printed), or no readable status file
  2  invalid command line
`;

interface RawRunOptions {
  dir?: string;
  bind: string;
  port: number;
  ip?: PeerAddress[];
  encryption?: "yes" | "no";
  key?: string;
  keyFile?: string;
  window?: number;
  blockSize: number;
  packetSize?: number;
  crypto: AeadBackend;
  compress: CompressMode;
  logFormat: LogFormat;
  logLevel: LogLevel;
}

class UsageError extends Error {}

/** Appended to every usage error, so that the one line it prints also says where to look. */
function helpHint(command: string): string {
  return ` (see \`${command} --help\`)`;
}

/** The flag a key problem is about, where its message does not already name it. */
const KEY_ERROR_FLAG: Partial<Record<KeyErrorCode, string>> = {
  missing: "--encryption yes: ",
  unreadable: "--key-file: ",
  "too-large": "--key-file: ",
};

function toRunOptions(raw: RawRunOptions, env: CliIo["env"]): RunOptions {
  if (raw.dir === undefined) throw new UsageError("required option '--dir <folder>' not specified");
  if (raw.ip === undefined) throw new UsageError("required option '--ip <peer>[,<peer>...]' not specified");
  const dir = resolve(raw.dir);
  const dirProblem = impossibleShare(dir);
  if (dirProblem !== null) throw new UsageError(dirProblem);
  const keyInputs = { key: raw.key, keyFile: raw.keyFile, env, required: raw.encryption === "yes" };
  const key = raw.encryption === "no" ? null : resolveKey(keyInputs);
  if (key instanceof KeyError) throw new UsageError(`${KEY_ERROR_FLAG[key.code] ?? ""}${key.message}`);
  return {
    dir,
    bind: raw.bind,
    port: raw.port,
    peers: raw.ip.map((p) => ({ host: p.host, port: p.port === 0 ? raw.port : p.port })),
    key,
    window: raw.window,
    blockSize: raw.blockSize,
    packetSize: raw.packetSize,
    crypto: raw.crypto,
    compress: raw.compress,
    logFormat: raw.logFormat,
    logLevel: raw.logLevel,
  };
}

function buildProgram(io: CliIo, onCommand: (c: CliCommand) => void): Command {
  const program = new Command("left")
    .description("LEFT: keeps a folder identical on several hosts, peer to peer, over its own UDP protocol.")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (text, write) => write(`${text.trimEnd()}${helpHint("left")}\n`),
    })
    // Not commander's requiredOption: those would also be demanded from `left status`.
    .enablePositionalOptions()
    .option(
      "--dir <folder>",
      "share folder to keep in sync (required; created if missing; LEFT keeps its state in <folder>/.left)",
    )
    .addOption(
      new Option("--bind <ip>", "local IPv4 address to listen on").default("0.0.0.0").argParser(parseIPv4),
    )
    .addOption(
      new Option("--port <n>", `UDP port, ${MIN_PORT}-${MAX_PORT}`)
        .default(DEFAULT_PORT)
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        "--ip <peer>[,<peer>...]",
        "peers, comma-separated (required): ip (on our --port) or ip:port",
      ).argParser(parsePeers),
    )
    .addOption(
      new Option(
        "--encryption <yes|no>",
        "yes: encrypt and authenticate with the pre-shared key (every peer must); no: plaintext (default: yes if a key is given)",
      ).choices(["yes", "no"]),
    )
    .option("--key <passphrase>", "pre-shared key (visible in ps: prefer --key-file or LEFT_KEY)")
    .option("--key-file <path>", "file holding the pre-shared key")
    .addOption(
      new Option("--window <packets>", "max packets in flight per peer (default: 8 MiB worth)").argParser(
        integerIn(1, MAX_WINDOW, "window"),
      ),
    )
    .addOption(
      new Option("--block-size <bytes>", "average content-defined block size")
        .default(DEFAULT_BLOCK_SIZE, "64K")
        .argParser(bytesIn(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE)),
    )
    .addOption(
      new Option(
        "--packet-size <bytes>",
        "UDP payload size (default: 65000 when the first peer is 127.x, else 1400)",
      ).argParser(bytesIn(MIN_PACKET_SIZE, MAX_DATAGRAM)),
    )
    .addOption(
      new Option("--crypto <backend>", "AEAD implementation: native (node:crypto, fast) or noble (pure JS)")
        .choices(AEAD_BACKENDS)
        .default("native"),
    )
    .addOption(
      new Option(
        "--compress <mode>",
        "compress block data: auto (only on links slower than ~300 MB/s, never to 127.x), on, off",
      )
        .choices(["auto", "on", "off"])
        .default("auto"),
    )
    .addOption(
      new Option("--log-format <format>", "log lines: text, or json (one object per line)")
        .choices(["text", "json"])
        .default("text"),
    )
    .addOption(
      new Option("--log-level <level>", "least severe level logged")
        .choices(["debug", "info", "warn", "error"])
        .default("info"),
    )
    .addHelpText("after", EXAMPLES)
    .action((raw: RawRunOptions) => onCommand({ kind: "run", options: toRunOptions(raw, io.env) }));

  program
    .command("status")
    .description(
      "print the state of the LEFT daemon running on a share folder (from <folder>/.left/status.json)",
    )
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (text, write) => write(`${text.trimEnd()}${helpHint("left status")}\n`),
    })
    .requiredOption("--dir <folder>", "share folder the daemon runs on")
    .option("--json", "print the raw status.json (for scripts)")
    .addHelpText("after", STATUS_EXAMPLES)
    .action((raw: { dir: string; json?: boolean }) =>
      onCommand({ kind: "status", dir: resolve(raw.dir), json: raw.json === true }),
    );
  return program;
}

/** Parses `argv` (without node and script). Never exits the process: usage problems come back as exit 2. */
export function parseCli(argv: readonly string[], io: CliIo): CliCommand {
  let command: CliCommand = { kind: "exit", code: ExitCode.Usage };
  const program = buildProgram(io, (c) => {
    command = c;
  });
  // A bare `left` is someone finding out what it is: the whole help answers that better than an error.
  if (argv.length === 0) {
    io.err(program.helpInformation());
    return { kind: "exit", code: ExitCode.Usage };
  }
  try {
    program.parse(argv, { from: "user" });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}${helpHint("left")}\n`);
      return { kind: "exit", code: ExitCode.Usage };
    }
    if (err instanceof CommanderError) {
      return { kind: "exit", code: err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage };
    }
    throw err;
  }
  return command;
}
