/**
 * Thread behind src/pipeline/prefix-digest.ts: one running SHA-256 per followed file, fed by positional
 * reads of the part the main thread says is final. Reads go to the page cache the writes just filled.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import type { DigestReply, DigestRequest } from "../src/pipeline/prefix-digest-protocol.js";

interface Followed {
  fd: number;
  hash: Hash;
  hashed: number;
  /** Set once a read failed: the digest can no longer be right. */
  broken: boolean;
}

const PIECE = 4 << 20;
const scratch = Buffer.allocUnsafe(PIECE);
const files = new Map<number, Followed>();
const port = parentPort!;

function catchUp(f: Followed, upTo: number): void {
  while (!f.broken && f.hashed < upTo) {
    const n = readSync(f.fd, scratch, 0, Math.min(PIECE, upTo - f.hashed), f.hashed);
    if (n === 0) f.broken = true;
    f.hash.update(scratch.subarray(0, n));
    f.hashed += n;
  }
}

function close(id: number): void {
  const f = files.get(id);
  files.delete(id);
  if (f !== undefined) closeSync(f.fd);
}

function handle(msg: DigestRequest): void {
  if (msg.op === "open") {
    let fd = -1;
    try {
      fd = openSync(msg.path, "r");
    } catch {
      // Reported as a null digest at "finish".
    }
    if (fd >= 0) files.set(msg.id, { fd, hash: createHash("sha256"), hashed: 0, broken: false });
    return;
  }
  if (msg.op === "abort") {
    close(msg.id);
    return;
  }
  const f = files.get(msg.id);
  if (f !== undefined) {
    try {
      catchUp(f, msg.upTo);
    } catch {
      f.broken = true;
    }
  }
  if (msg.op === "finish") {
    const reply: DigestReply = {
      id: msg.id,
      digest: f === undefined || f.broken || f.hashed !== msg.upTo ? null : f.hash.digest("hex"),
    };
    close(msg.id);
    port.postMessage(reply);
  }
}

port.on("message", handle);
