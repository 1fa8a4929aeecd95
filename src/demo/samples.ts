/**
 * The demo's sample data: one big random file (the transfer worth watching) and a tree with nested and
 * empty folders, small text and binary files and an empty file (the cases a folder sync must get right).
 * Everything is written into a staging folder outside the shares and then moved in with rename(2), so
 * the peers see complete files appear rather than files being written.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const MiB = 1024 * 1024;

export interface SampleSet {
  bigFile: string;
  bigBytes: number;
  smallFiles: number;
  folders: number;
  emptyFolders: number;
}

const EMPTY_FOLDERS = ["tree/empty", "tree/docs/drafts", "tree/photos/2026/02"];

const TEXT_FILES: Record<string, string> = {
  "tree/README.txt": "Sample files from `npm run demo`. Edit, add or delete anything under demo/a, b or c.\n",
  "tree/docs/guide.txt": "LEFT keeps this folder identical on every peer.\n",
  "tree/docs/howto/encrypt.txt":
    "Give every peer the same key: left --encryption yes --key-file <file> ...\n",
  "tree/docs/howto/status.txt":
    "left status --dir demo/b shows peers, what is pending and recent problems.\n",
  "tree/deep/one/two/three/four/five/bottom.txt":
    "Six folders down: parents are created before their children.\n",
  "tree/projects/notes/.keep": "",
};

async function writeRandom(path: string, bytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, "w");
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(MiB, bytes - done);
      await fh.write(randomBytes(n), 0, n, done);
      done += n;
    }
  } finally {
    await fh.close();
  }
}

async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

/** Writes the sample set under `staging` (which must not exist yet). */
export async function writeSamples(staging: string, bigBytes: number): Promise<SampleSet> {
  const files = { ...TEXT_FILES };
  for (let i = 1; i <= 20; i++) {
    const name = `tree/projects/notes/day-${String(i).padStart(2, "0")}.md`;
    files[name] = `# Day ${i}\n\n${"A line of notes that a small file carries.\n".repeat(i * 3)}`;
  }
  for (const [path, text] of Object.entries(files)) await writeText(join(staging, path), text);
  // Photos: small incompressible files of a few sizes, one of them several blocks long.
  const photoSizes = [4096, 20_000, 65_536, 300_000, 1_200_000];
  for (const [i, size] of photoSizes.entries()) {
    await writeRandom(join(staging, `tree/photos/2026/01/img-${i + 1}.jpg`), size);
  }
  for (const dir of EMPTY_FOLDERS) await mkdir(join(staging, dir), { recursive: true });
  await writeRandom(join(staging, "big.bin"), bigBytes);
  let folders = 0;
  const count = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      folders++;
      await count(join(dir, e.name));
    }
  };
  await count(staging);
  return {
    bigFile: "big.bin",
    bigBytes,
    smallFiles: Object.keys(files).length + photoSizes.length,
    folders,
    emptyFolders: EMPTY_FOLDERS.length,
  };
}

/** Moves every top-level entry of `staging` into `share`: each appears there at once, complete. */
export async function moveInto(staging: string, share: string): Promise<void> {
  for (const name of await readdir(staging)) await rename(join(staging, name), join(share, name));
}
