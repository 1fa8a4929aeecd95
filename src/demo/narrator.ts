/**
 * Turns the peers' log events into short lines the user can follow ("b ← tree/README.txt (86 B, from a)").
 * While the progress bars show the first sync on a terminal, per-file lines would only push them around,
 * so file events are held back there; problems and conflicts are always shown.
 */
import { formatBytes } from "../cli/format.js";
import type { DemoPeer, PeerEvent } from "./peers.js";
import type { DemoView } from "./view.js";

export class Narrator {
  /** Device id prefix (8 hex digits) or ip:port → peer name, learnt from the peers' status files. */
  private readonly names = new Map<string, string>();
  /** Whether per-file events are shown. */
  fileEvents = true;

  constructor(private readonly view: DemoView) {}

  /** `key`: the peer's ip:port or its device id. */
  learn(name: string, key: string): void {
    this.names.set(key.length === 32 ? key.slice(0, 8) : key, name);
  }

  private nameOf(key: unknown): string {
    return typeof key === "string" ? (this.names.get(key) ?? this.names.get(key.slice(0, 8)) ?? key) : "?";
  }

  onEvent(peer: DemoPeer, e: PeerEvent): void {
    const line = this.describe(e);
    if (line !== null) this.view.say(`  ${peer.name}  ${line}`);
  }

  private describe(e: PeerEvent): string | null {
    const f = e.fields;
    switch (e.event) {
      case "file.synced":
        if (!this.fileEvents) return null;
        return f.type === "dir"
          ? `← ${f.path}/ (folder, from ${this.nameOf(f.from)})`
          : `← ${f.path} (${formatBytes(Number(f.size ?? 0))}, from ${this.nameOf(f.from)})`;
      case "file.removed":
        return this.fileEvents ? `✗ ${f.path} removed, as on ${this.nameOf(f.from)}` : null;
      case "sync.conflict":
        return `! ${f.path} was changed on two peers at once: both kept, the other as ${f.copy}`;
      case "peer.up":
        return `connected to ${this.nameOf(f.peer)}`;
      case "peer.down":
        return `lost ${this.nameOf(f.peer)} (${f.reason})`;
      default:
        if (e.level !== "warn" && e.level !== "error") return null;
        return `${e.level.toUpperCase()} ${e.message}${f.path === undefined ? "" : `: ${f.path}`}${
          f.error === undefined ? "" : ` (${f.error})`
        }`;
    }
  }
}
