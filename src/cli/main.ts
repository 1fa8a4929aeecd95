#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * Entry point of the `left` command (package.json "bin"). Exit codes: 0 ok, 1 runtime failure,
 * 2 invalid command line (see `left --help`). The shebang's Node flags are node-flags.ts's
 * DAEMON_NODE_FLAGS (a test holds them equal).
 */
import { type CliIo, ExitCode, parseCli } from "./args.js";
import { runDaemon } from "./daemon.js";
import { statusCommand } from "./status-command.js";

const io: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
};

async function main(): Promise<number> {
  const command = parseCli(process.argv.slice(2), io);
  switch (command.kind) {
    case "exit":
      return command.code;
    case "status":
      return statusCommand(command.dir, command.json, io);
    case "run":
      return runDaemon(command.options);
  }
}

// Exit explicitly: by the time main() resolves everything has been closed, and a lingering handle (a
// worker thread, a timer) must not keep a stopped daemon alive. stdout/stderr writes are synchronous on
// Linux for files and pipes, so nothing printed is lost.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    io.err(`left: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(ExitCode.Failure);
  },
);
