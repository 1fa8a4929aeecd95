#!/usr/bin/env node
/**
 * `npm run demo`: three LEFT peers on 127.0.0.2-4 syncing ./demo/a, ./demo/b and ./demo/c. Interactive
 * on a terminal (the peers keep running until Ctrl-C); with --once, in CI or without a terminal on stdin
 * it syncs, verifies and exits: 0 verified, 1 failed, 2 bad arguments, 130 interrupted.
 */
import { resolve } from "node:path";
import { runDemo } from "./demo.js";
import { type DemoView, PlainView, TerminalView } from "./view.js";

const MiB = 1024 * 1024;
const BIG_FILE_BYTES = 128 * MiB;

const USAGE = `Usage: npm run demo [-- --once]

Starts three LEFT peers on 127.0.0.2, 127.0.0.3 and 127.0.0.4 with the folders ./demo/a, ./demo/b and
./demo/c (emptied first), drops sample files into demo/a, shows them arriving at b and c, verifies all
three folders by SHA-256, then keeps the peers running for you to try things until Ctrl-C.

Options:
  --once      sync, verify and exit (also the default when stdin is not a terminal, or CI is set)
  -h, --help  this text

Exit codes: 0 verified (or stopped with Ctrl-C after that), 1 failed, 2 bad arguments, 130 interrupted
before verification with --once.
`;

function parseArgs(argv: readonly string[]): { once: boolean } | { help: true } | { error: string } {
  let once = false;
  for (const arg of argv) {
    if (arg === "--once") once = true;
    else if (arg === "--help" || arg === "-h") return { help: true };
    else return { error: `unknown argument "${arg}" (see \`npm run demo -- --help\`)` };
  }
  return { once };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if ("help" in args) {
    process.stdout.write(USAGE);
    return 0;
  }
  if ("error" in args) {
    process.stderr.write(`error: ${args.error}\n`);
    return 2;
  }
  const ci = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
  const once = args.once || !process.stdin.isTTY || ci;
  const controller = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => controller.abort());
  const view: DemoView = process.stdout.isTTY
    ? new TerminalView(process.stdout)
    : new PlainView((text) => process.stdout.write(text));
  return runDemo({ root: resolve("demo"), once, bigBytes: BIG_FILE_BYTES, view, signal: controller.signal });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
