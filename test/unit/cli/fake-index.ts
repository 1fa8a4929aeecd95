/**
 * Just enough of IndexDb for the CLI's monitor: local entries with sequences, remote announcements and
 * download records, all in memory.
 */
import type { FileInfo } from "../../../src/index/types.js";

export const ME = "aa".repeat(16);
export const PEER = "bb".repeat(16);

export function file(path: string, over: Partial<FileInfo> = {}): FileInfo {
  return {
    path,
    type: "file",
    size: 0,
    mtimeMs: 0,
    mode: 0o644,
    deleted: false,
    version: { [PEER]: 1 },
    modifiedBy: PEER,
    sequence: 0,
    blocks: [],
    digest: "",
    target: "",
    ...over,
  };
}

/** A file of `blocks` blocks of `blockSize` bytes, announced by PEER. */
export function bigFile(path: string, blocks: number, blockSize: number, digest: string): FileInfo {
  return file(path, {
    size: blocks * blockSize,
    digest,
    blocks: Array.from({ length: blocks }, (_, i) => ({
      offset: i * blockSize,
      size: blockSize,
      hash: `${i}`,
    })),
  });
}

export class FakeIndex {
  readonly deviceId = ME;
  private readonly local: FileInfo[] = [];
  private readonly remote = new Map<string, FileInfo>();
  private readonly downloads = new Map<string, Set<number>>();
  livePathCalls = 0;

  addLocal(f: FileInfo): void {
    this.local.push({ ...f, sequence: this.local.length + 1 });
  }

  announce(f: FileInfo): void {
    this.remote.set(f.path, f);
  }

  download(path: string, digest: string, done: number[]): void {
    this.downloads.set(`${path}\0${digest}`, new Set(done));
  }

  finish(path: string, digest: string): void {
    this.downloads.delete(`${path}\0${digest}`);
  }

  localSequence(): number {
    return this.local.length;
  }

  localSince(sequence: number): FileInfo[] {
    return this.local.filter((f) => f.sequence > sequence);
  }

  livePaths(): { path: string; sequence: number }[] {
    this.livePathCalls++;
    return this.local.filter((f) => !f.deleted).map((f) => ({ path: f.path, sequence: f.sequence }));
  }

  partials(): { path: string; digest: string; tmpName: string }[] {
    return [...this.downloads.keys()].map((k) => {
      const [path, digest] = k.split("\0") as [string, string];
      return { path, digest, tmpName: `${digest}.part` };
    });
  }

  getPartial(path: string, digest: string): { tmpName: string; done: Set<number> } | undefined {
    const done = this.downloads.get(`${path}\0${digest}`);
    return done && { tmpName: `${digest}.part`, done };
  }

  devicesHaving(path: string, digest: string): string[] {
    return this.remote.get(path)?.digest === digest ? [PEER] : [];
  }

  getRemote(device: string, path: string): FileInfo | undefined {
    return device === PEER ? this.remote.get(path) : undefined;
  }
}
