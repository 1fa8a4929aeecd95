/**
 * The set of paths this host still has to change, and their scheduling state. Paths are (re)decided
 * whenever something about them may have changed: a peer announced them, the local entry changed, a
 * peer with their content connected, or an attempt ended. Work is handed out parents-first for
 * creations and children-first for deletions, so directories exist before their contents and are empty
 * before they are removed.
 *
 * Needs are kept without block lists (≈100 bytes per block: a peer announcing many huge files would
 * otherwise fill the heap); `withBlocks` reads them from the index when the work starts.
 */
import type { FileInfo } from "../index/types.js";
import { compareVersions } from "../index/version.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { decideNeed, type Need } from "./needs.js";
import type { SyncIndex } from "./ports.js";

/**
 * - queued: ready to run
 * - active: being applied (a newer decision waits until it ends)
 * - no-source: a pull that no connected peer can serve; retried when one connects or announces it
 * - retry: failed or deferred; queued again when its timer fires
 */
export type NeedState = "queued" | "active" | "no-source" | "retry";

export interface TrackedNeed {
  /** Without block lists (see withBlocks). */
  need: Need;
  /** The local entry the decision was made against (the applier refuses if it changed since); no blocks. */
  base: FileInfo | undefined;
  state: NeedState;
  attempts: number;
  timer: TimerHandle | null;
  /** Something changed while active: decide again when the attempt ends. */
  dirty: boolean;
}

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

function sameNeed(a: Need, b: Need): boolean {
  return (
    a.op === b.op &&
    a.target.deleted === b.target.deleted &&
    a.target.digest === b.target.digest &&
    a.target.target === b.target.target &&
    a.target.mode === b.target.mode &&
    compareVersions(a.target.version, b.target.version) === "equal" &&
    (a.loser === null) === (b.loser === null)
  );
}

function withoutBlocks<T extends FileInfo | undefined | null>(f: T): T {
  return f && f.blocks.length > 0 ? { ...f, blocks: [] } : f;
}

/** Creations in path order (parents first), then deletions in reverse path order (children first). */
function runsBefore(a: TrackedNeed, b: TrackedNeed): number {
  const aDel = a.need.op === "delete";
  const bDel = b.need.op === "delete";
  if (aDel !== bDel) return aDel ? 1 : -1;
  const pa = a.need.target.path;
  const pb = b.need.target.path;
  if (pa === pb) return 0;
  return (pa < pb ? -1 : 1) * (aDel ? -1 : 1);
}

export class NeedTracker {
  private readonly needs = new Map<string, TrackedNeed>();
  private devices: string[] | null = null;
  private order: TrackedNeed[] | null = null;
  private cursor = 0;

  constructor(
    private readonly db: SyncIndex,
    private readonly clock: Clock,
    /** Whether a pull of this version can be served by a connected peer right now. */
    private readonly hasSource: (target: FileInfo) => boolean,
    /** Called when work becomes ready (queued). */
    private readonly onReady: () => void,
  ) {}

  get size(): number {
    return this.needs.size;
  }

  /** Needs that can make progress now (everything except pulls waiting for a source). */
  get actionable(): number {
    let n = 0;
    for (const t of this.needs.values()) if (t.state !== "no-source") n++;
    return n;
  }

  get(path: string): TrackedNeed | undefined {
    return this.needs.get(path);
  }

  /** Includes a device's announcements in later decisions (a no-op for devices already known). */
  addDevice(device: string): void {
    if (this.devices !== null && device !== this.db.deviceId && !this.devices.includes(device)) {
      this.devices.push(device);
    }
  }

  /** Decides `path` again from the index. */
  evaluate(path: string): void {
    const existing = this.needs.get(path);
    if (existing?.state === "active") {
      existing.dirty = true;
      return;
    }
    this.devices ??= this.db.remoteDevices().filter((d) => d !== this.db.deviceId);
    const base = this.db.getLocal(path);
    const remotes: FileInfo[] = [];
    for (const d of this.devices) {
      const r = this.db.getRemote(d, path);
      if (r !== undefined) remotes.push(r);
    }
    const decided = decideNeed(base, remotes);
    if (decided === null) {
      if (existing !== undefined) this.drop(existing);
      return;
    }
    const need: Need = {
      op: decided.op,
      target: withoutBlocks(decided.target),
      loser: withoutBlocks(decided.loser),
    };
    if (existing !== undefined && sameNeed(existing.need, need)) {
      // Same work: keep its attempt count; a backoff still running keeps running.
      existing.base = withoutBlocks(base);
      if (existing.state !== "queued" && existing.timer === null) this.enqueue(existing);
      return;
    }
    if (existing !== undefined) this.drop(existing);
    const tracked: TrackedNeed = {
      need,
      base: withoutBlocks(base),
      state: "queued",
      attempts: 0,
      timer: null,
      dirty: false,
    };
    this.needs.set(path, tracked);
    this.enqueue(tracked);
  }

  /**
   * `need` with its block lists, read afresh from the index: the target's from any entry with its
   * content (ours or a peer's: a block list describes the bytes, whoever computed it), the losing local
   * entry's from ours. Null when those entries changed since the decision: decide again.
   */
  withBlocks(need: Need): Need | null {
    const t = need.target;
    let target = t;
    if (t.type === "file" && !t.deleted && t.size > 0) {
      const local = this.db.getLocal(t.path);
      let source = local?.digest === t.digest && !local.deleted ? local : undefined;
      for (const d of source === undefined ? this.db.devicesHaving(t.path, t.digest) : []) {
        source = this.db.getRemote(d, t.path);
        if (source?.digest === t.digest) break;
      }
      if (source?.digest !== t.digest || source.blocks.length === 0) return null;
      target = { ...t, blocks: source.blocks };
    }
    let loser = need.loser;
    if (loser !== null && loser.type === "file" && !loser.deleted && loser.size > 0) {
      const local = this.db.getLocal(loser.path);
      if (local === undefined || compareVersions(local.version, loser.version) !== "equal") return null;
      loser = { ...loser, blocks: local.blocks };
    }
    return { op: need.op, target, loser };
  }

  /** Retries pulls that were waiting for a peer (one just connected). */
  sourcesChanged(): void {
    for (const t of this.needs.values()) if (t.state === "no-source") this.enqueue(t);
  }

  /** The next queued need in run order, marked active; undefined when nothing is ready. */
  take(): TrackedNeed | undefined {
    if (this.order === null) {
      this.order = [...this.needs.values()].filter((t) => t.state === "queued").sort(runsBefore);
      this.cursor = 0;
    }
    while (this.cursor < this.order.length) {
      const t = this.order[this.cursor++]!;
      if (t.state !== "queued" || this.needs.get(t.need.target.path) !== t) continue;
      t.state = "active";
      t.attempts++;
      return t;
    }
    return undefined;
  }

  /** The attempt is over and the path's state changed (or may have): decide again. */
  finished(t: TrackedNeed): void {
    this.drop(t);
    this.evaluate(t.need.target.path);
  }

  /** The attempt could not proceed: try again after a delay growing with the attempts. */
  retryLater(t: TrackedNeed, minDelayMs = 0): void {
    if (t.dirty) {
      this.finished(t);
      return;
    }
    t.state = "retry";
    const delay = Math.max(minDelayMs, Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (t.attempts - 1)));
    t.timer = this.clock.setTimeout(() => {
      t.timer = null;
      this.evaluate(t.need.target.path);
    }, delay);
  }

  /** A pull found no connected peer with the content. */
  waitForSource(t: TrackedNeed): void {
    if (t.dirty) {
      this.finished(t);
      return;
    }
    t.state = "no-source";
    t.attempts = 0;
  }

  private enqueue(t: TrackedNeed): void {
    if (t.need.op === "pull" && !this.hasSource(t.need.target)) {
      t.state = "no-source";
      return;
    }
    t.state = "queued";
    this.order = null;
    this.onReady();
  }

  private drop(t: TrackedNeed): void {
    t.timer?.cancel();
    t.timer = null;
    if (this.needs.get(t.need.target.path) === t) this.needs.delete(t.need.target.path);
  }
}
