/**
 * What an assembly has written so far, kept two ways: the done-block marks in the index (the resume
 * point after a crash, written in batches) and the gap-free prefix from the start of the file (what the
 * running digest may hash).
 */
import type { FileInfo } from "../index/types.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { ioProblem } from "./io-errors.js";
import type { SyncIndex } from "./ports.js";

/** Marks per index transaction at most: one transaction per batch keeps SQLite off the hot path. */
const MARK_BATCH = 256;

/** Collects done block indices and writes them to the index in batches. */
export class DoneMarks {
  private batch: number[] = [];
  private timer: TimerHandle | null = null;
  private failed = false;

  constructor(
    private readonly db: SyncIndex,
    private readonly path: string,
    private readonly digest: string,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  add(index: number): void {
    this.batch.push(index);
    if (this.batch.length >= MARK_BATCH) this.flush();
    else this.timer ??= this.clock.setTimeout(() => this.flush(), this.intervalMs);
  }

  flush(): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.batch.length === 0) return;
    try {
      this.db.markBlocksDone(this.path, this.digest, this.batch);
    } catch (err) {
      // Only the resume point is lost: after a restart these blocks are fetched again.
      if (!this.failed) {
        this.log.log(
          "warn",
          "pull.progress_not_recorded",
          `cannot record download progress: ${ioProblem(err)}`,
          {
            path: this.path,
          },
        );
      }
      this.failed = true;
    }
    this.batch = [];
  }
}

/**
 * How far a file under assembly is written without a gap from its start: blocks done before this attempt
 * count, and the others as they are written (in any order).
 */
export class WrittenPrefix {
  private next = 0;
  private readonly ahead: Set<number>;

  constructor(
    private readonly target: FileInfo,
    done: ReadonlySet<number>,
  ) {
    this.ahead = new Set(done);
    this.skip();
  }

  /** Block `index` is written. */
  add(index: number): void {
    this.ahead.add(index);
    this.skip();
  }

  get bytes(): number {
    return this.target.blocks[this.next]?.offset ?? this.target.size;
  }

  private skip(): void {
    while (this.ahead.delete(this.next)) this.next++;
  }
}
