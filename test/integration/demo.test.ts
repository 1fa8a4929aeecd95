/**
 * `npm run demo -- --once`, as CI runs it: three real peers, the sample files, verification, exit 0; the
 * trees are then compared here independently (test/helpers' SHA-256 walk, not the demo's own).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { tree, treeDiff, waitFor } from "../helpers/procs.js";

const DEMO = fileURLToPath(new URL("../../src/demo/main.js", import.meta.url));
const MiB = 1024 * 1024;

function startDemo(
  cwd: string,
  args: string[],
): { proc: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const env = { ...process.env };
  delete env.CI;
  const proc = spawn(process.execPath, [DEMO, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const chunks: string[] = [];
  proc.stdout?.on("data", (c: Buffer) => chunks.push(c.toString()));
  proc.stderr?.on("data", (c: Buffer) => chunks.push(c.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return { proc, output: () => chunks.join(""), exit };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("npm run demo", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-demo-"));
  after(() => rm(root, { recursive: true, force: true }));

  it("--once: syncs the sample files to b and c, verifies them and exits 0 with the peers stopped", async () => {
    const started = performance.now();
    const demo = startDemo(root, ["--once"]);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      demo.exit,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), 150_000);
      }),
    ]);
    clearTimeout(timer);
    if (code === "timeout") {
      // SIGTERM, not SIGKILL: the demo then stops its peers instead of orphaning them.
      demo.proc.kill("SIGTERM");
      await demo.exit;
    }
    assert.equal(code, 0, demo.output());
    console.log(`demo --once: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const out = demo.output();
    assert.match(out, /All three folders are identical\./);
    assert.match(out, /All three peers stopped cleanly\./);

    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => tree(join(root, "demo", n), true)));
    assert.deepEqual(treeDiff(a!, b!), []);
    assert.deepEqual(treeDiff(a!, c!), []);
    const listing = await tree(join(root, "demo", "a"));
    assert.equal(listing.get("big.bin")?.split(" ")[1], String(128 * MiB));
    assert.equal(listing.get("tree/empty"), "dir", "empty folders are synced too");
    assert.equal(listing.get("tree/projects/notes/.keep")?.split(" ")[1], "0", "and empty files");
    assert.ok(a!.size > 40, `a sample tree, got ${a!.size} entries`);
    for (const n of ["a", "b", "c"]) {
      assert.ok(!(await exists(join(root, "demo", n, ".left", "daemon.pid"))), `peer ${n} released its lock`);
      assert.ok(await exists(join(root, "demo", `${n}.log`)), `peer ${n} left its log`);
    }
  });

  it("Ctrl-C before verification stops every peer cleanly and exits 130", async () => {
    const demo = startDemo(root, ["--once"]);
    await waitFor(
      "the peers to connect",
      () => demo.output().includes("are connected to each other"),
      60_000,
    );
    demo.proc.kill("SIGINT");
    assert.equal(await demo.exit, 130, demo.output());
    assert.match(demo.output(), /All three peers stopped cleanly\./);
    for (const n of ["a", "b", "c"]) {
      assert.ok(!(await exists(join(root, "demo", n, ".left", "daemon.pid"))), `peer ${n} stopped in order`);
    }
  });

  it("refuses unknown arguments with exit 2 and prints its usage with --help", async () => {
    const bad = startDemo(root, ["--frobnicate"]);
    assert.equal(await bad.exit, 2);
    assert.match(bad.output(), /unknown argument "--frobnicate"/);
    const help = startDemo(root, ["--help"]);
    assert.equal(await help.exit, 0);
    assert.match(help.output(), /Usage: npm run demo \[-- --once\]/);
  });
});
