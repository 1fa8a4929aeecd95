/**
 * Makes one decided change visible in the share: renames an assembled file into place, creates a
 * directory or link, deletes, or adopts a version whose bytes are already here. Every change:
 *   - holds the path, so the scanner does not take LEFT's own write for a local edit;
 *   - first checks that the local entry is still the one the decision was made against and that the
 *     disk still matches the index: otherwise there is a local edit the scanner has not indexed yet,
 *     and overwriting it would lose data, so the change waits (the edit then becomes a normal conflict);
 *   - never writes through a symlinked parent (checkParents);
 *   - records the result with recordPulled, so the new local version is announced like any other.
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { chmod, lstat, mkdir, rename, rmdir, symlink, unlink, utimes } from "node:fs/promises";
import { join, posix } from "node:path";
import type { FileInfo, StatRecord } from "../index/types.js";
import { bumpVersion, compareVersions } from "../index/version.js";
import type { Logger } from "../util/log.js";
import { TMP_DIR } from "./assembler.js";
import { conflictName } from "./conflicts.js";
import { ioProblem } from "./io-errors.js";
import type { Need } from "./needs.js";
import { checkParents } from "./paths.js";
import type { SyncFolder, SyncIndex } from "./ports.js";
import type { RecycleBin } from "./recycle.js";

/**
 * - done: applied and recorded
 * - stale: the local entry changed since the decision: decide again
 * - local-change: the disk differs from the index (an edit not yet indexed): try again after a scan
 * - blocked: cannot be applied now (directory not empty, unsafe parent, I/O error): retry later
 */
export type ApplyOutcome = "done" | "stale" | "local-change" | "blocked";

export interface ApplierOptions {
  dir: string;
  db: SyncIndex;
  recycle: RecycleBin;
  folder: SyncFolder;
  log: Logger;
}

/** Conflict names tried before giving up (the first is almost always free). */
const MAX_CONFLICT_ATTEMPTS = 20;

async function lstatOrNull(abs: string): Promise<Stats | null> {
  try {
    return await lstat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw err;
  }
}

function typeOf(st: Stats): StatRecord["type"] | "other" {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  return "other";
}

/**
 * Whether what is on disk is what the index last saw. A vanished entry is fine (its deletion is not
 * indexed yet, and the incoming version is newer or wins anyway); a directory's own mtime changes with its
 * children, so only its type is compared; the index records no size for links (a link is never modified
 * in place: a new target is a new inode).
 */
export function diskMatchesIndex(
  cur: Stats | null,
  local: FileInfo | undefined,
  stat: StatRecord | undefined,
): boolean {
  if (local === undefined || local.deleted) return cur === null;
  if (cur === null) return true;
  if (stat === undefined || typeOf(cur) !== stat.type) return false;
  if (stat.type === "dir") return true;
  const sameSize = stat.type !== "file" || cur.size === stat.size;
  return sameSize && cur.mtimeMs === stat.mtimeMs && cur.ino === stat.ino;
}

function sameVersion(a: FileInfo | undefined, b: FileInfo | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return compareVersions(a.version, b.version) === "equal" && a.deleted === b.deleted;
}

function withoutSequence(info: FileInfo): Omit<FileInfo, "sequence"> {
  const { sequence: _, ...rest } = info;
  return rest;
}

export class Applier {
  /** Directories checked to be real (not symlinks) since the share last changed under us. */
  private readonly realDirs = new Set<string>();

  constructor(private readonly opts: ApplierOptions) {}

  /** Something on disk changed (a local edit was reported): check parents afresh from now on. */
  forgetDirs(): void {
    this.realDirs.clear();
  }

  private async ensureParents(path: string): Promise<void> {
    const parent = posix.dirname(path);
    if (parent === "." || this.realDirs.has(parent)) return;
    await checkParents(this.opts.dir, path, true);
    this.realDirs.add(parent);
  }

  private abs(path: string): string {
    return join(this.opts.dir, path);
  }

  /**
   * Whether `need` may still be applied: null if so, else why not. Checked before fetching anything (a
   * file that is only waiting to be indexed must not be downloaded for nothing) and again when applying.
   */
  async precondition(need: Need, base: FileInfo | undefined): Promise<"stale" | "local-change" | null> {
    const seen = await this.inspect(need.target.path, base);
    return "blocked" in seen ? seen.blocked : null;
  }

  /** The local entry and what is on disk at `path`, or why a change decided against `base` must wait. */
  private async inspect(
    path: string,
    base: FileInfo | undefined,
  ): Promise<{ blocked: "stale" | "local-change" } | { local: FileInfo | undefined; cur: Stats | null }> {
    const local = this.opts.db.getLocal(path);
    if (!sameVersion(local, base)) return { blocked: "stale" };
    const cur = await lstatOrNull(this.abs(path));
    if (!diskMatchesIndex(cur, local, this.opts.db.getStat(path))) return { blocked: "local-change" };
    return { local, cur };
  }

  /**
   * Applies `need`, decided against the local entry `base`. For a pull, `tmpPath` is the assembled and
   * verified file.
   */
  async apply(need: Need, base: FileInfo | undefined, tmpPath?: string): Promise<ApplyOutcome> {
    const { path } = need.target;
    const { folder, log } = this.opts;
    folder.hold(path);
    try {
      const seen = await this.inspect(path, base);
      if ("blocked" in seen) return seen.blocked;
      const { local, cur } = seen;
      const abs = this.abs(path);
      if (need.op !== "delete" && !need.target.deleted) await this.ensureParents(path);
      // These can turn a checked directory into something else (or away).
      const reshapes =
        need.op === "symlink" || need.op === "delete" || need.loser !== null || cur?.isDirectory();
      if (reshapes) this.forgetDirs();
      await this.change(need, abs, cur, local, tmpPath);
      await folder.recordPulled(withoutSequence(need.target));
      return "done";
    } catch (err) {
      log.log("warn", "apply.blocked", `cannot ${need.op} yet: ${ioProblem(err)}; will retry`, { path });
      return "blocked";
    } finally {
      folder.release(path);
    }
  }

  private async change(
    need: Need,
    abs: string,
    cur: Stats | null,
    local: FileInfo | undefined,
    tmpPath: string | undefined,
  ): Promise<void> {
    const t = need.target;
    switch (need.op) {
      case "pull":
        if (tmpPath === undefined) throw new Error("pull without an assembled file");
        await chmod(tmpPath, t.mode);
        await utimes(tmpPath, t.mtimeMs / 1000, t.mtimeMs / 1000);
        await this.makeRoom(need, abs, cur, local);
        await rename(tmpPath, abs);
        return;
      case "mkdir":
        if (cur?.isDirectory()) {
          await chmod(abs, t.mode);
          return;
        }
        await this.makeRoom(need, abs, cur, local);
        await mkdir(abs, { mode: t.mode }).catch(async (err: NodeJS.ErrnoException) => {
          // A concurrent pull of a file inside this directory may have created it as a parent already.
          if (err.code !== "EEXIST" || !(await lstat(abs)).isDirectory()) throw err;
        });
        await chmod(abs, t.mode);
        return;
      case "symlink": {
        // Created aside and renamed over, so the path never briefly points nowhere.
        const tmpLink = join(this.opts.dir, TMP_DIR, `${randomBytes(8).toString("hex")}.link`);
        await symlink(t.target, tmpLink);
        await this.makeRoom(need, abs, cur, local);
        await rename(tmpLink, abs);
        return;
      }
      case "delete":
        if (cur !== null) await this.remove(abs, cur, local);
        return;
      case "adopt":
        if (t.deleted || cur === null) return;
        if (!cur.isSymbolicLink() && (cur.mode & 0o7777) !== t.mode) await chmod(abs, t.mode);
        if (cur.isFile() && cur.mtimeMs !== t.mtimeMs) await utimes(abs, t.mtimeMs / 1000, t.mtimeMs / 1000);
        return;
    }
  }

  /**
   * Clears the path for a new entry: the losing side of a conflict is kept under its conflict name; a
   * directory in the way is removed only if empty, and anything in the way of a new directory is removed
   * (rename can replace neither); otherwise the rename replaces the old file or link itself.
   */
  private async makeRoom(
    need: Need,
    abs: string,
    cur: Stats | null,
    local: FileInfo | undefined,
  ): Promise<void> {
    if (cur === null) return;
    if (need.loser !== null) await this.keepConflictCopy(need.loser, abs, cur);
    else if (cur.isDirectory() || need.op === "mkdir") await this.remove(abs, cur, local);
  }

  /**
   * Removes an entry: a directory only if empty; a file into the recycle bin, because a deletion is often
   * half of a rename whose other half needs its blocks.
   */
  private async remove(abs: string, cur: Stats, local: FileInfo | undefined): Promise<void> {
    if (cur.isDirectory()) await rmdir(abs);
    else if (cur.isFile() && local?.type === "file") await this.opts.recycle.keep(abs, local);
    else await unlink(abs);
  }

  /**
   * Renames the losing local entry to its conflict name and records it as a new local file, so it syncs to
   * every peer like any other. A directory is renamed only; the scanner indexes its moved contents.
   */
  private async keepConflictCopy(loser: FileInfo, abs: string, cur: Stats): Promise<void> {
    const { db, folder, log } = this.opts;
    let name = "";
    for (let attempt = 1; attempt <= MAX_CONFLICT_ATTEMPTS && name === ""; attempt++) {
      const candidate = conflictName(loser.path, loser, attempt);
      if ((await lstatOrNull(this.abs(candidate))) === null) name = candidate;
    }
    if (name === "") throw new Error(`no free conflict name for ${loser.path}`);
    if (cur.isDirectory()) {
      await rename(abs, this.abs(name));
      return;
    }
    folder.hold(name);
    try {
      await rename(abs, this.abs(name));
      const me = db.deviceId;
      await folder.recordPulled({
        ...withoutSequence(loser),
        path: name,
        version: bumpVersion(db.getLocal(name)?.version ?? {}, me),
        modifiedBy: me,
      });
    } finally {
      folder.release(name);
    }
    log.log("info", "sync.conflict", "concurrent edits: kept the losing copy", {
      path: loser.path,
      copy: name,
    });
  }
}
