/**
 * Keeps the last few warnings and errors a daemon logged, for status.json and `left status`: a user who
 * asks why nothing syncs should not have to find the daemon's terminal or log file first.
 */
import type { Logger, LogLevel } from "../util/log.js";

export interface LoggedProblem {
  /** ISO 8601, of the latest occurrence. */
  time: string;
  level: "warn" | "error";
  event: string;
  message: string;
  /** Occurrences: a problem that recurs (a peer with the wrong key retrying) takes one slot, not all. */
  count: number;
}

export interface ProblemLog extends Logger {
  /** Least recent first. */
  recent(): LoggedProblem[];
}

function isProblem(level: LogLevel): level is LoggedProblem["level"] {
  return level === "warn" || level === "error";
}

/** A logger that forwards everything to `inner` and remembers the last `keep` warnings and errors. */
export function problemLog(inner: Logger, keep = 5): ProblemLog {
  const kept: LoggedProblem[] = [];
  return {
    log(level, event, message, fields) {
      inner.log(level, event, message, fields);
      if (!isProblem(level)) return;
      const path = fields?.path;
      const error = fields?.error;
      const text = `${message}${path == null ? "" : `: ${path}`}${error == null ? "" : ` (${error})`}`;
      const at = kept.findIndex((p) => p.event === event && p.message === text);
      const count = at < 0 ? 1 : kept[at]!.count + 1;
      if (at >= 0) kept.splice(at, 1);
      kept.push({ time: new Date().toISOString(), level, event, message: text, count });
      if (kept.length > keep) kept.shift();
    },
    recent: () => [...kept],
  };
}
