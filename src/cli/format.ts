/**
 * Human-readable numbers for the terminal and `left status`: binary units (what `ls -h` and `du -h`
 * show), one decimal, and short durations.
 */
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** "45s", "3m05s", "2h07m"; "?" when unknown (nothing moving). */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** Fits `text` into `width` characters by eliding its middle, so both the folder and the name stay visible. */
export function fitMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return text.slice(0, width);
  const tail = Math.ceil((width - 1) / 2);
  return `${text.slice(0, width - 1 - tail)}…${text.slice(text.length - tail)}`;
}

/**
 * Breaks each line of `text` into pieces of at most `width` characters, at a space where there is one
 * in the second half of the piece, continuations indented. For output above live progress bars: the bars
 * switch the terminal's own wrapping off while they run, so an unbroken long line would be cut off.
 */
export function wrapToWidth(text: string, width: number): string {
  const indent = "    ";
  if (width <= indent.length * 4) return text;
  const out: string[] = [];
  for (const line of text.split("\n")) {
    let rest = line;
    let room = width;
    while (rest.length > room) {
      const space = rest.lastIndexOf(" ", room);
      const cut = space > room / 2 ? space : room;
      out.push((room === width ? "" : indent) + rest.slice(0, cut));
      rest = rest.slice(space === cut ? cut + 1 : cut);
      room = width - indent.length;
    }
    out.push((room === width ? "" : indent) + rest);
  }
  return out.join("\n");
}
