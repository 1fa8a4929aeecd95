/**
 * V8 flags the daemon runs with: the `left` command's shebang (main.ts) carries them, and whatever starts
 * a daemon with `node` itself (the demo, the benchmark) passes these. They cannot be set from inside:
 * V8 sizes its heap when the process starts.
 *
 * --initial-old-space-size=64: without a configured size V8 shrinks the old generation's limit to just
 * above the live heap (≈9 MB here) whenever scavenges show little survival, so the few objects a
 * transfer promotes (≈11 MB per GiB received) set off a full mark-compact every 50–100 ms: 35–60 per
 * GiB on the receiver, whose incremental marking kept V8's helper threads busy. Configured, the limit
 * stays at 64 MB and a 1 GiB first copy sees 2–4: in three back-to-back pairs the receiver used
 * 0.6–1.0 CPU-s less (−13 %) and the copy took 0.4–0.8 s less. 64 MB bounds what garbage may pile up
 * in the old generation before it is collected.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--initial-old-space-size=64"];
