import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import {
  type CliCommand,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_PORT,
  parseCli,
  type RunOptions,
} from "../../../src/cli/args.js";

function parse(
  argv: string[],
  env: Record<string, string> = {},
): { command: CliCommand; out: string; err: string } {
  let out = "";
  let err = "";
  const command = parseCli(argv, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env,
  });
  return { command, out, err };
}

function run(argv: string[], env: Record<string, string> = {}): RunOptions {
  const { command, err } = parse(argv, env);
  assert.equal(command.kind, "run", err);
  return (command as { options: RunOptions }).options;
}

/** A usage error: exit code 2 and one line on stderr that names `flag`. */
function usageError(argv: string[], flag: RegExp, env: Record<string, string> = {}): void {
  const { command, err } = parse(argv, env);
  assert.deepEqual(command, { kind: "exit", code: 2 }, `expected exit 2 for ${argv.join(" ")}`);
  const lines = err.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, got: ${err}`);
  assert.match(lines[0]!, flag);
}

describe("parseCli: the daemon", () => {
  it("applies defaults and resolves the share path", () => {
    const o = run(["--dir", "share", "--ip", "127.0.0.3"]);
    assert.equal(o.dir, resolve("share"));
    assert.equal(o.bind, "0.0.0.0");
    assert.equal(o.port, DEFAULT_PORT);
    assert.deepEqual(o.peers, [{ host: "127.0.0.3", port: DEFAULT_PORT }]);
    assert.equal(o.key, null);
    assert.equal(o.blockSize, DEFAULT_BLOCK_SIZE);
    assert.equal(o.window, undefined);
    assert.equal(o.packetSize, undefined);
    assert.equal(o.crypto, "native");
    assert.equal(o.compress, "auto");
  });

  it("gives peers without a port our own port, keeps explicit ones", () => {
    const o = run(["--dir", "d", "--port", "23000", "--ip", "127.0.0.3,127.0.0.4:24000"]);
    assert.deepEqual(o.peers, [
      { host: "127.0.0.3", port: 23000 },
      { host: "127.0.0.4", port: 24000 },
    ]);
  });

  it("parses sizes with K and M suffixes and every tuning flag", () => {
    const o = run([
      "--dir",
      "d",
      "--ip",
      "127.0.0.3",
      "--bind",
      "127.0.0.2",
      "--block-size",
      "256K",
      "--packet-size",
      "1400",
      "--window",
      "64",
      "--crypto",
      "noble",
      "--compress",
      "off",
      "--log-format",
      "json",
      "--log-level",
      "debug",
    ]);
    assert.equal(o.bind, "127.0.0.2");
    assert.equal(o.blockSize, 256 * 1024);
    assert.equal(o.packetSize, 1400);
    assert.equal(o.window, 64);
    assert.equal(o.crypto, "noble");
    assert.equal(o.compress, "off");
    assert.equal(o.logFormat, "json");
    assert.equal(o.logLevel, "debug");
    assert.equal(run(["--dir", "d", "--ip", "127.0.0.3", "--block-size", "1M"]).blockSize, 1 << 20);
    assert.equal(run(["--dir", "d", "--ip", "127.0.0.3", "--block-size", "65536"]).blockSize, 65536);
  });

  it("rejects bad values with exit 2 and a line naming the flag", () => {
    const base = ["--dir", "d", "--ip", "127.0.0.3"];
    usageError([...base, "--port", "19999"], /--port/);
    usageError([...base, "--port", "30001"], /--port/);
    usageError([...base, "--port", "22001x"], /--port/);
    usageError(["--dir", "d", "--ip", "127.0.0.3:80"], /--ip/);
    usageError(["--dir", "d", "--ip", "localhost"], /--ip/);
    usageError(["--dir", "d", "--ip", "127.0.0.3,"], /--ip/);
    usageError([...base, "--bind", "300.1.1.1"], /--bind/);
    usageError([...base, "--block-size", "1"], /--block-size/);
    usageError([...base, "--block-size", "12Q"], /--block-size/);
    usageError([...base, "--packet-size", "100"], /--packet-size/);
    usageError([...base, "--window", "0"], /--window/);
    usageError([...base, "--crypto", "rot13"], /--crypto/);
    usageError([...base, "--compress", "maybe"], /--compress/);
    usageError([...base, "--encryption", "perhaps"], /--encryption/);
    usageError([...base, "--log-level", "loud"], /--log-level/);
    usageError([...base, "--frobnicate"], /--frobnicate/);
    usageError(["--ip", "127.0.0.3"], /--dir/);
    usageError(["--dir", "d"], /--ip/);
  });

  it("refuses a --dir where no folder can be created, before anything starts", () => {
    const proc =
      /^error: --dir \/proc\/\S+: \/proc(\/self)? is on the kernel's proc file system, where no folder can be created/;
    usageError(["--dir", "/proc/left-share/deeper", "--ip", "127.0.0.3"], proc);
    usageError(["--dir", "/proc/self", "--ip", "127.0.0.3"], proc);
    assert.equal(run(["--dir", "not/yet/there", "--ip", "127.0.0.3"]).dir, resolve("not/yet/there"));
  });
});

describe("parseCli: keys", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "left-args-"));
  after(() => rm(tmp, { recursive: true, force: true }));
  const base = ["--dir", "d", "--ip", "127.0.0.3"];

  it("refuses --encryption yes without a key (exit 2)", () => {
    usageError([...base, "--encryption", "yes"], /no key/);
  });

  it("takes the key from --key, --key-file or LEFT_KEY, and encrypts by default when one is given", async () => {
    const keyFile = join(tmp, "key");
    await writeFile(keyFile, "file secret\n");
    const fromFile = run([...base, "--encryption", "yes", "--key-file", keyFile]).key;
    assert.equal(Buffer.from(fromFile!.passphrase).toString(), "file secret");
    assert.equal(run([...base, "--key", "flag secret"]).key?.source, "flag");
    assert.equal(run([...base, "--encryption", "yes"], { LEFT_KEY: "env secret" }).key?.source, "env");
    assert.equal(run([...base, "--encryption", "no", "--key", "ignored"]).key, null);
  });

  it("reports unreadable or conflicting keys as usage errors", () => {
    usageError([...base, "--key-file", join(tmp, "missing")], /--key-file: cannot read key file/);
    usageError(base, /LEFT_KEY is empty/, { LEFT_KEY: "" });
    usageError([...base, "--key", "a", "--key-file", join(tmp, "key")], /either --key or --key-file/);
    usageError([...base, "--key", ""], /--key is empty/);
  });
});

describe("parseCli: help and status", () => {
  it("prints help with examples and exit codes, exit 0", () => {
    const { command, out } = parse(["--help"]);
    assert.deepEqual(command, { kind: "exit", code: 0 });
    assert.match(out, /Examples:/);
    assert.match(out, /Exit codes:/);
    assert.match(out, /--packet-size/);
  });

  it("parses `left status` without demanding the daemon's flags", () => {
    assert.deepEqual(parse(["status", "--dir", "x"]).command, {
      kind: "status",
      dir: resolve("x"),
      json: false,
    });
    assert.deepEqual(parse(["status", "--dir", "x", "--json"]).command, {
      kind: "status",
      dir: resolve("x"),
      json: true,
    });
    usageError(["status"], /--dir/);
  });
});
