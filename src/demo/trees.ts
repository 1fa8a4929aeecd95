/**
 * What is in a demo folder: every entry except `.left/`, as path → "dir", "file <size>" or, when hashed,
 * "file <size> <sha-256>". Two folders are identical when these maps are; the demo prints one SHA-256 of
 * the whole map so the user can compare three folders at a glance.
 */
import { createHash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

export type Tree = Map<string, string>;

/** What a listing says of one regular file, given its absolute path and lstat. */
export type FileEntry = (abs: string, st: Stats) => string | Promise<string>;

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Lists `root` as the demo compares folders: each file's size, and with `hashes` its SHA-256. */
export function listTree(root: string, hashes: boolean): Promise<Tree> {
  return walkTree(root, async (abs, st) =>
    hashes ? `file ${st.size} ${await sha256File(abs)}` : `file ${st.size}`,
  );
}

/**
 * Lists `root` (sorted, parents before children), each regular file as `fileEntry` says; entries that
 * vanish meanwhile and special files (sockets, FIFOs, devices: never synced) are skipped.
 */
export async function walkTree(root: string, fileEntry: FileEntry): Promise<Tree> {
  const out: Tree = new Map();
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(root, rel)).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      if (path === ".left") continue;
      const abs = join(root, path);
      const st = await lstat(abs).catch(() => null);
      if (st === null) continue;
      if (st.isDirectory()) {
        out.set(path, "dir");
        await walk(path);
      } else if (st.isSymbolicLink()) {
        out.set(path, `link ${await readlink(abs)}`);
      } else if (st.isFile()) {
        out.set(path, await fileEntry(abs, st));
      }
    }
  };
  await walk("");
  return out;
}

export function sameTree(a: Tree, b: Tree): boolean {
  if (a.size !== b.size) return false;
  for (const [path, what] of a) if (b.get(path) !== what) return false;
  return true;
}

/** Up to `max` differences, "path: <in a> vs <in b>", for error messages. */
export function treeDiff(a: Tree, b: Tree, max = 5): string[] {
  const diff: string[] = [];
  for (const [path, what] of a)
    if (b.get(path) !== what) diff.push(`${path}: ${what} vs ${b.get(path) ?? "missing"}`);
  for (const [path, what] of b) if (!a.has(path)) diff.push(`${path}: missing vs ${what}`);
  return diff.slice(0, max);
}

/** SHA-256 over the whole (hashed) listing: equal for identical folders. */
export function treeDigest(tree: Tree): string {
  const hash = createHash("sha256");
  for (const [path, what] of tree) hash.update(`${path}\0${what}\n`);
  return hash.digest("hex");
}

/** Bytes of regular files in the listing. */
export function treeBytes(tree: Tree): number {
  let bytes = 0;
  for (const what of tree.values()) if (what.startsWith("file ")) bytes += Number(what.split(" ")[1]);
  return bytes;
}
