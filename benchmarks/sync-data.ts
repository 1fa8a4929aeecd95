/**
 * The data every tool syncs in one run of the sync benchmark, and the file operations its cases are
 * made of. Everything here is untimed preparation or after-the-clock checking.
 */
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { statSync } from "node:fs";
import { copyFile, open } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { MiB } from "./transport-payload.js";

const CHUNK = 8 * MiB;

export const MID_BYTES = MiB;
export const PREFIX_BYTES = 100;

/** One file of random bytes and the edits the delta cases make to it. */
export interface Workload {
  size: number;
  /** A random file of `size` bytes, outside every share. */
  base: string;
  /** What delta-mid writes in place at `midOffset`: 1 MiB of fresh random bytes. */
  mid: Buffer;
  /** The same for rsync's --inplace run, which needs an edit of its own after the default run. */
  midAgain: Buffer;
  /** The middle of the file, 4 KiB aligned (clamped for files smaller than 1 MiB). */
  midOffset: number;
  /** What delta-insert puts before the file's content. */
  prefix: Buffer;
}

/** Writes `size` fresh random bytes (fsynced, so no writeback runs during a timed phase). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size));
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, pos);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function makeWorkload(dir: string, size: number): Promise<Workload> {
  const base = join(dir, "base.bin");
  await writeRandomFile(base, size);
  return {
    size,
    base,
    mid: randomBytes(Math.min(MID_BYTES, size)),
    midAgain: randomBytes(Math.min(MID_BYTES, size)),
    midOffset: Math.max(0, Math.floor((size - MID_BYTES) / 2 / 4096) * 4096),
    prefix: randomBytes(PREFIX_BYTES),
  };
}

export async function sha256File(path: string): Promise<string | null> {
  const fh = await open(path, "r").catch(() => null);
  if (fh === null) return null;
  try {
    const hash = createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return hash.digest("hex");
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/** Reads files through once: this VM's DAMON pages out idle page cache, which would be measured as disk. */
export async function warm(paths: readonly string[]): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const path of paths) {
    const fh = await open(path, "r").catch(() => null);
    if (fh === null) continue;
    try {
      while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0);
    } finally {
      await fh.close();
    }
  }
}

/** `dst` = `prefix` ‖ content of `src`, fsynced: a staged file, so that it can be renamed into a share. */
export async function stageCopy(src: string, dst: string, prefix?: Buffer): Promise<void> {
  if (prefix === undefined) {
    await copyFile(src, dst);
  } else {
    const [from, to] = await Promise.all([open(src, "r"), open(dst, "w")]);
    try {
      await to.write(prefix, 0, prefix.length, 0);
      const buf = Buffer.allocUnsafe(CHUNK);
      let at = prefix.length;
      for (;;) {
        const { bytesRead } = await from.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        await to.write(buf, 0, bytesRead, at);
        at += bytesRead;
      }
    } finally {
      await Promise.all([from.close(), to.close()]);
    }
  }
  const fh = await open(dst, "r+");
  await fh.sync();
  await fh.close();
}

/** The delta-mid edit: overwrites in place and fsyncs, the way an application saving a block would. */
export async function overwriteAt(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.write(data, 0, data.length, offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface FileState {
  size: number;
  ino: number;
  mtimeMs: number;
  /** Bytes actually allocated: a sparse tmp file shows how much of it has been written. */
  allocated: number;
}

export function fileState(path: string): FileState | null {
  try {
    const st = statSync(path);
    return { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, allocated: st.blocks * 512 };
  } catch {
    return null;
  }
}

/** Polls `probe` every `intervalMs` until it returns non-null or `deadline` (epoch ms) passes. */
export async function waitFor<T>(
  probe: () => T | null | Promise<T | null>,
  deadline: number,
  intervalMs: number,
): Promise<T | null> {
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() >= deadline) return null;
    await sleep(intervalMs);
  }
}
