import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DAEMON_NODE_FLAGS } from "../../../src/cli/node-flags.js";
import { freePort, LEFT_CLI } from "../../helpers/procs.js";
import { daemonStatus } from "./status-fixture.js";

function left(...args: string[]) {
  const env = { ...process.env };
  delete env.LEFT_KEY;
  const r = spawnSync(process.execPath, [LEFT_CLI, ...args], { encoding: "utf8", env, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("left (the executable)", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-main-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("runs as an executable with the daemon's Node flags from its shebang", async () => {
    const shebang = (await readFile(LEFT_CLI, "utf8")).split("\n", 1)[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(" ")}`);
    // What `npm link` does to a bin file; the kernel then starts it through the shebang.
    await chmod(LEFT_CLI, 0o755);
    const r = spawnSync(LEFT_CLI, ["--version"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/);
  });

  it("prints help with examples and exit codes (exit 0); a bare `left` prints it too (exit 2)", () => {
    const help = left("--help");
    assert.equal(help.code, 0);
    assert.match(help.out, /Examples:\n {2}# Two hosts/);
    assert.match(help.out, /Exit codes:\n {2}0 /);
    const statusHelp = left("status", "--help");
    assert.equal(statusHelp.code, 0);
    assert.match(statusHelp.out, /left status --dir ~\/share --json/);
    assert.match(statusHelp.out, /Exit codes:/);
    const bare = left();
    assert.equal(bare.code, 2);
    assert.match(bare.err, /Usage: left \[options\]/);
  });

  it("reports usage errors on one line naming the flag and where to read more (exit 2)", () => {
    const bad = left("--dir", root, "--ip", "127.0.0.3", "--port", "80");
    assert.equal(bad.code, 2);
    assert.equal(bad.err.trim().split("\n").length, 1);
    assert.match(bad.err, /--port.*\(see `left --help`\)$/m);
    const noKey = left("--dir", root, "--ip", "127.0.0.3", "--encryption", "yes");
    assert.equal(noKey.code, 2);
    assert.match(noKey.err, /--encryption yes.*use --key-file, LEFT_KEY or --key/);
    const statusWithoutDir = left("status");
    assert.equal(statusWithoutDir.code, 2);
    assert.match(statusWithoutDir.err, /--dir.*\(see `left status --help`\)/);
  });

  it("a --dir that is a file, or a port in use, fails at start (exit 1) naming the flag", async () => {
    const aFile = join(root, "a-file");
    await writeFile(aFile, "not a folder");
    const notDir = left("--dir", aFile, "--ip", "127.0.0.3", "--bind", "127.0.0.2", "--log-format", "json");
    assert.equal(notDir.code, 1);
    assert.match(notDir.err, /"event":"share\.unusable".*--dir .*a-file: a file is in the way/);

    const port = await freePort(["127.0.0.2"]);
    const squatter = createSocket("udp4");
    await new Promise<void>((resolve) => squatter.bind(port, "127.0.0.2", resolve));
    try {
      const inUse = left(
        "--dir",
        join(root, "share"),
        "--ip",
        "127.0.0.3",
        "--bind",
        "127.0.0.2",
        "--port",
        String(port),
      );
      assert.equal(inUse.code, 1);
      assert.match(
        inUse.err,
        new RegExp(`cannot listen on 127\\.0\\.0\\.2:${port}: --port ${port} is already in use`),
      );
    } finally {
      squatter.close();
    }
  });

  it("`left status` prints a running daemon's state (exit 0), and says what to do without one (exit 1)", async () => {
    const missing = left("status", "--dir", join(root, "nothing"));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no LEFT daemon has run on/);
    // The status of a daemon that is "this test process", so that it counts as running.
    const status = daemonStatus({ pid: process.pid });
    await mkdir(join(root, "share/.left"), { recursive: true });
    await writeFile(join(root, "share/.left/status.json"), JSON.stringify(status));
    const text = left("status", "--dir", join(root, "share"));
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /state {6}syncing: 3 entries to fetch or apply/);
    const json = left("status", "--dir", join(root, "share"), "--json");
    assert.deepEqual(JSON.parse(json.out), status);
  });
});
