/**
 * A set of integers kept as sorted, disjoint, non-adjacent half-open ranges [start, end). It backs every
 * "which of these did we see" question in the transport: received packet numbers, acknowledged stream
 * and bulk bytes, delivered bulk message ids. Two parallel number arrays instead of range objects: the
 * common operation extends the last range, which must not allocate.
 */
export class RangeSet {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Number of integers in the set. */
  covered = 0;

  get rangeCount(): number {
    return this.starts.length;
  }

  rangeStart(i: number): number {
    return this.starts[i]!;
  }

  rangeEnd(i: number): number {
    return this.ends[i]!;
  }

  isEmpty(): boolean {
    return this.starts.length === 0;
  }

  /** Adds [start, end) and returns how many integers were not in the set before. */
  add(start: number, end: number): number {
    if (start >= end) return 0;
    const starts = this.starts;
    const ends = this.ends;
    const n = starts.length;
    if (n === 0 || start > ends[n - 1]!) {
      starts.push(start);
      ends.push(end);
      this.covered += end - start;
      return end - start;
    }
    if (start >= starts[n - 1]!) {
      // Touches or overlaps only the last range: the in-order fast path.
      const added = Math.max(0, end - ends[n - 1]!);
      if (added > 0) ends[n - 1] = end;
      this.covered += added;
      return added;
    }
    const i = this.firstEndingAtOrAfter(start);
    let j = i;
    let removed = 0;
    while (j < n && starts[j]! <= end) {
      removed += ends[j]! - starts[j]!;
      j++;
    }
    if (j === i) {
      starts.splice(i, 0, start);
      ends.splice(i, 0, end);
      this.covered += end - start;
      return end - start;
    }
    const mergedStart = Math.min(start, starts[i]!);
    const mergedEnd = Math.max(end, ends[j - 1]!);
    starts.splice(i, j - i, mergedStart);
    ends.splice(i, j - i, mergedEnd);
    const added = mergedEnd - mergedStart - removed;
    this.covered += added;
    return added;
  }

  /** Removes [start, end). */
  remove(start: number, end: number): void {
    if (start >= end || this.starts.length === 0) return;
    const starts = this.starts;
    const ends = this.ends;
    let i = this.firstEndingAtOrAfter(start + 1);
    while (i < starts.length && starts[i]! < end) {
      const s = starts[i]!;
      const e = ends[i]!;
      const keepLeft = s < start;
      const keepRight = e > end;
      this.covered -= Math.min(e, end) - Math.max(s, start);
      if (keepLeft && keepRight) {
        ends[i] = start;
        starts.splice(i + 1, 0, end);
        ends.splice(i + 1, 0, e);
        return;
      }
      if (keepLeft) {
        ends[i] = start;
        i++;
      } else if (keepRight) {
        starts[i] = end;
        return;
      } else {
        starts.splice(i, 1);
        ends.splice(i, 1);
      }
    }
  }

  has(x: number): boolean {
    const i = this.lastStartingAtOrBefore(x);
    return i >= 0 && x < this.ends[i]!;
  }

  /** True if every integer of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (start >= end) return true;
    const i = this.lastStartingAtOrBefore(start);
    return i >= 0 && end <= this.ends[i]!;
  }

  /** Drops the lowest range; the caller decides what forgetting it means. */
  dropFirst(): void {
    const s = this.starts.shift();
    const e = this.ends.shift();
    if (s !== undefined && e !== undefined) this.covered -= e - s;
  }

  /** Calls `fn` for each maximal sub-range of [start, end) that is NOT in the set. */
  forEachGap(start: number, end: number, fn: (gapStart: number, gapEnd: number) => void): void {
    let cursor = start;
    for (
      let i = Math.max(0, this.firstEndingAtOrAfter(start + 1));
      i < this.starts.length && cursor < end;
      i++
    ) {
      const s = this.starts[i]!;
      if (s >= end) break;
      if (s > cursor) fn(cursor, s);
      cursor = Math.max(cursor, this.ends[i]!);
    }
    if (cursor < end) fn(cursor, end);
  }

  /** Index of the first range whose end is >= x (ranges.length if none). */
  private firstEndingAtOrAfter(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the last range whose start is <= x (-1 if none). */
  private lastStartingAtOrBefore(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}
