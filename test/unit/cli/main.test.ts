import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Status } from "../../../src/sync/status.js";
import { LEFT_CLI } from "../../helpers/procs.js";

function left(...args: string[]) {
  const env = { ...process.env };
  delete env.LEFT_KEY;
  const r = spawnSync(process.execPath, [LEFT_CLI, ...args], { encoding: "utf8", env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("left (the executable)", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-main-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("prints help (exit 0) and reports usage errors on one line (exit 2)", () => {
    const help = left("--help");
    assert.equal(help.code, 0);
    assert.match(help.out, /Exit codes:/);
    const bad = left("--dir", root, "--ip", "127.0.0.3", "--port", "80");
    assert.equal(bad.code, 2);
    assert.equal(bad.err.trim().split("\n").length, 1);
    assert.match(bad.err, /--port/);
    const noKey = left("--dir", root, "--ip", "127.0.0.3", "--encryption", "yes");
    assert.equal(noKey.code, 2);
    assert.match(noKey.err, /--encryption yes/);
  });

  it("`left status` prints the daemon's status file, raw or summarized, and fails without one", async () => {
    const missing = left("status", "--dir", join(root, "nothing"));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /is left running/);
    const status: Status = {
      peers: [{ address: "127.0.0.3:22001", connected: true, deviceId: "ab".repeat(16) }],
      wire: { bytesSent: 1_500_000, bytesReceived: 2_500_000 },
      files: { local: 12, needed: 3 },
      inSync: false,
      deviceId: "cd".repeat(16),
      pid: 4242,
      updatedAt: new Date().toISOString(),
    };
    await mkdir(join(root, "share/.left"), { recursive: true });
    await writeFile(join(root, "share/.left/status.json"), JSON.stringify(status));
    const json = left("status", "--dir", join(root, "share"), "--json");
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.out), status);
    const text = left("status", "--dir", join(root, "share"));
    assert.equal(text.code, 0);
    assert.match(text.out, /in sync: {2}no/);
    assert.match(text.out, /12 local, 3 needed/);
    assert.match(text.out, /127\.0\.0\.3:22001 connected/);
    await writeFile(join(root, "share/.left/status.json"), "{not json");
    assert.equal(left("status", "--dir", join(root, "share")).code, 1);
  });
});
