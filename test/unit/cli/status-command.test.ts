import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { formatStatus, statusCommand } from "../../../src/cli/status-command.js";
import type { Status } from "../../../src/sync/status.js";
import { daemonStatus } from "./status-fixture.js";

const MiB = 1024 * 1024;

async function run(dir: string, json = false): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io = {
    out: (t: string) => {
      out += t;
    },
    err: (t: string) => {
      err += t;
    },
    env: {},
  };
  return { code: await statusCommand(dir, json, io), out, err };
}

describe("left status", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-status-"));
  after(() => rm(root, { recursive: true, force: true }));

  async function share(name: string, content: string): Promise<string> {
    const dir = join(root, name);
    await mkdir(join(dir, ".left"), { recursive: true });
    await writeFile(join(dir, ".left", "status.json"), content);
    return dir;
  }

  it("in words: state, every peer, throughput, downloads and recent problems", () => {
    const text = formatStatus(
      "/srv/share",
      daemonStatus({
        transfers: [{ path: "big.bin", size: 128 * MiB, done: 32 * MiB, bytesPerSec: 16 * MiB, etaSec: 6 }],
        problems: [
          {
            time: "2026-11-26T10:00:00.000Z",
            level: "warn",
            event: "pull.io_error",
            message: "disk full",
            count: 1,
          },
          {
            time: "2026-11-26T10:00:09.000Z",
            level: "warn",
            event: "transport.refused",
            message: "wrong key",
            count: 3,
          },
        ],
      }),
      Date.now(),
      true,
    );
    assert.match(text, /^share {6}\/srv\/share$/m);
    assert.match(text, /^daemon {5}running, pid \d+, device cdcd/m);
    assert.match(text, /^state {6}syncing: 3 entries to fetch or apply \(12 local entries\)$/m);
    assert.match(text, /^peers {6}1 of 2 connected$/m);
    assert.match(text, /127\.0\.0\.3:22001 +connected \(device abababab\)$/m);
    assert.match(text, /127\.0\.0\.4:22001 +not connected$/m);
    assert.match(text, /^traffic {4}in 40\.0 MiB\/s, out 2\.0 KiB\/s \(since start 250\.0 MiB received/m);
    assert.match(text, /^downloads {2}big\.bin: 32\.0 MiB of 128\.0 MiB \(25%\), 16\.0 MiB\/s, ETA 6s$/m);
    assert.match(text, /^problems {3}2026-11-26T10:00:00\.000Z WARN disk full$/m);
    assert.match(text, /^ {11}2026-11-26T10:00:09\.000Z WARN wrong key \(3 times\)$/m);
    const idle = formatStatus(
      "/s",
      daemonStatus({ inSync: true, files: { local: 7, needed: 0 } }),
      Date.now(),
      true,
    );
    assert.match(idle, /^state {6}in sync: 7 entries, nothing pending$/m);
  });

  it("exit 0 for a running daemon, raw JSON with --json", async () => {
    const status = daemonStatus();
    const dir = await share("running", JSON.stringify(status));
    const text = await run(dir);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /daemon {5}running/);
    const json = await run(dir, true);
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.out), status);
  });

  it("exit 1 and NOT RUNNING when the status is stale or its process is gone", async () => {
    const stale = await share(
      "stale",
      JSON.stringify(daemonStatus({ updatedAt: new Date(Date.now() - 60_000).toISOString() })),
    );
    const r = await run(stale);
    assert.equal(r.code, 1);
    assert.match(r.out, /NOT RUNNING: last heard of 1m0\ds ago/);
    assert.match(r.out, /state {6}when last seen: syncing/);
    const gone = await share("gone", JSON.stringify(daemonStatus({ pid: 2 ** 22 + 12345 })));
    assert.equal((await run(gone)).code, 1);
    assert.equal((await run(gone, true)).code, 1, "scripts see the same exit code with --json");
  });

  it("reads an older daemon's status file (without the CLI's additions)", async () => {
    const { throughput: _t, transfers: _d, problems: _p, ...plain } = daemonStatus();
    const old: Status = plain;
    const dir = await share("old", JSON.stringify(old));
    const r = await run(dir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^traffic {4}since start 250\.0 MiB received, 1\.4 MiB sent$/m);
  });

  it("exit 1 with a line saying what to do when there is no status or it is not one", async () => {
    const missing = await run(join(root, "nothing"));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no LEFT daemon has run on .*nothing: start one with `left --dir/);
    const garbage = await run(await share("garbage", "{not json"));
    assert.equal(garbage.code, 1);
    assert.match(garbage.err, /is not a LEFT status file: is --dir the share folder\?/);
    const wrongShape = await run(await share("shape", JSON.stringify({ peers: "none" })));
    assert.equal(wrongShape.code, 1);
  });
});
