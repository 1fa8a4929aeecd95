/**
 * Version vectors: each device counts its own edits of a path; a version dominates another when it has
 * seen every edit the other has. Pure functions over plain records so they serialize as JSON unchanged.
 */
import type { DeviceId, VersionVector } from "./types.js";

export type Ordering = "equal" | "greater" | "lesser" | "concurrent";

/** How `a` relates to `b`: "greater" means a dominates b (a has seen everything b has, and more). */
export function compareVersions(a: VersionVector, b: VersionVector): Ordering {
  let aAhead = false;
  let bAhead = false;
  for (const device of Object.keys(a)) {
    const diff = (a[device] ?? 0) - (b[device] ?? 0);
    if (diff > 0) aAhead = true;
    else if (diff < 0) bAhead = true;
  }
  for (const device of Object.keys(b)) {
    if (!(device in a) && (b[device] ?? 0) > 0) bAhead = true;
  }
  if (aAhead && bAhead) return "concurrent";
  if (aAhead) return "greater";
  if (bAhead) return "lesser";
  return "equal";
}

/**
 * The version after `device` edited a file known at `v`. The counter jumps to max(all)+1 rather than
 * own+1 so that a device's counter also orders its edits against everything it had seen.
 */
export function bumpVersion(v: VersionVector, device: DeviceId): VersionVector {
  let max = 0;
  for (const counter of Object.values(v)) if (counter > max) max = counter;
  return { ...v, [device]: max + 1 };
}

/** Element-wise maximum: the smallest version that dominates (or equals) both. */
export function mergeVersions(a: VersionVector, b: VersionVector): VersionVector {
  const out: VersionVector = { ...a };
  for (const [device, counter] of Object.entries(b)) {
    if (counter > (out[device] ?? 0)) out[device] = counter;
  }
  return out;
}
