/**
 * Structured logging. Every module takes a Logger instead of calling console directly, so the CLI can
 * choose text or JSON lines and tests can capture events.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  format: "text" | "json";
  level: LogLevel;
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const min = order[opts.level];
  return {
    log(level, event, message, fields) {
      if (order[level] < min) return;
      const time = new Date().toISOString();
      if (opts.format === "json") {
        write(JSON.stringify({ time, level, event, message, ...fields }));
        return;
      }
      const extra = fields
        ? Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => ` ${k}=${v}`)
            .join("")
        : "";
      write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
    },
  };
}

/** A logger that discards everything (unit tests) or collects records (assertions on events). */
export function memoryLogger(): Logger & { records: { level: LogLevel; event: string; message: string }[] } {
  const records: { level: LogLevel; event: string; message: string }[] = [];
  return {
    records,
    log(level, event, message) {
      records.push({ level, event, message });
    },
  };
}
