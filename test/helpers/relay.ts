/**
 * A lossy UDP relay for tests and benchmarks: the kernel here has no netem, so impairments are applied
 * in user space between two sockets.
 *
 *   X ──▶ side A ──(aToB link)──▶ side B ──▶ target Y
 *   X ◀── side A ◀──(bToA link)── side B ◀── target Y
 *
 * X is configured with side A's address as its peer; Y with side B's. Replies from Y go back to the
 * address X was last seen at. Every decision (loss, duplication, reordering, corruption, jitter) comes
 * from seeded PRNG streams — one per direction and per kind of impairment — so a seed reproduces the
 * same fate for the same sequence of datagrams, and changing one knob leaves the others' patterns alone.
 */

import { createSocket, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import { literalLookup } from "../../src/transport/endpoint.js";
import { type Clock, systemClock, type TimerHandle } from "../../src/util/clock.js";

export interface SocketAddress {
  host: string;
  port: number;
}

/** Impairments of one direction. Probabilities are per datagram, in [0, 1]. */
export interface LinkConditions {
  loss: number;
  /** The datagram is sent twice (the copy right after the original). */
  duplicate: number;
  /** The datagram is held back until `reorderGap` later datagrams have passed it, or `reorderMaxMs`. */
  reorder: number;
  reorderGap: number;
  reorderMaxMs: number;
  /** Fixed one-way delay plus uniform jitter in [0, jitterMs); jitter never reorders by itself. */
  delayMs: number;
  jitterMs: number;
  /** 1–3 distinct random bits of the datagram are flipped. */
  corrupt: number;
}

export const perfectLink: Readonly<LinkConditions> = Object.freeze({
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderGap: 3,
  reorderMaxMs: 20,
  delayMs: 0,
  jitterMs: 0,
  corrupt: 0,
});

export interface LinkStats {
  /** Datagrams that entered the link. */
  received: number;
  /** Datagrams handed to the far side, duplicates included. */
  forwarded: number;
  bytesForwarded: number;
  /** Dropped by random loss. */
  dropped: number;
  /** Dropped because a blackout was in progress. */
  blackedOut: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
}

/** A period (relative to relay start) during which every datagram in both directions is dropped. */
export interface BlackoutWindow {
  atMs: number;
  durationMs: number;
}

/** mulberry32: tiny, fast, and good enough for test impairments (not for anything secret). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded source of numbers and bytes, for fuzzers that must replay the same run from a seed. */
export class SeededRandom {
  protected readonly random: () => number;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  protected int(n: number): number {
    return Math.floor(this.random() * n);
  }

  protected bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** splitmix32 finaliser: turns (seed, salt) into well-separated seeds for independent streams. */
function deriveSeed(seed: number, salt: number): number {
  let z = (seed + Math.imul(salt, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function checkConditions(c: LinkConditions): void {
  for (const key of ["loss", "duplicate", "reorder", "corrupt"] as const) {
    if (!(c[key] >= 0 && c[key] <= 1)) throw new RangeError(`${key} must be a probability, got ${c[key]}`);
  }
  for (const key of ["reorderGap", "reorderMaxMs", "delayMs", "jitterMs"] as const) {
    if (!(c[key] >= 0 && Number.isFinite(c[key]))) throw new RangeError(`${key} must be >= 0, got ${c[key]}`);
  }
}

/** Blackout bookkeeping shared by both directions; windows may be scheduled ahead or started on demand. */
export class BlackoutSchedule {
  private readonly windows: { start: number; end: number }[] = [];

  constructor(private readonly origin: number) {}

  add(window: BlackoutWindow): void {
    if (!(window.atMs >= 0)) throw new RangeError(`blackout atMs must be >= 0, got ${window.atMs}`);
    this.startAt(this.origin + window.atMs, window.durationMs);
  }

  /** Starts a blackout at an absolute clock time (the on-demand case). */
  startAt(start: number, durationMs: number): void {
    if (!(durationMs >= 0)) throw new RangeError(`blackout durationMs must be >= 0, got ${durationMs}`);
    this.windows.push({ start, end: start + durationMs });
  }

  isDark(now: number): boolean {
    for (const w of this.windows) if (now >= w.start && now < w.end) return true;
    return false;
  }

  /** Forgets windows that are over, so the per-datagram check stays short in long runs. */
  prune(now: number): void {
    for (let i = this.windows.length - 1; i >= 0; i--)
      if (this.windows[i]!.end <= now) this.windows.splice(i, 1);
  }
}

interface Held {
  data: Uint8Array;
  remaining: number;
  deadline: number;
}

interface Scheduled {
  data: Uint8Array;
  at: number;
}

/**
 * One direction of the relay, without I/O: datagrams go in through `push`, come out through `deliver`.
 * Driven by an injected clock so the impairments can be unit-tested deterministically.
 */
export class ImpairedLink {
  readonly stats: LinkStats = {
    received: 0,
    forwarded: 0,
    bytesForwarded: 0,
    dropped: 0,
    blackedOut: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
  };
  private conditions: LinkConditions;
  private readonly lossRng: () => number;
  private readonly duplicateRng: () => number;
  private readonly reorderRng: () => number;
  private readonly corruptRng: () => number;
  private readonly delayRng: () => number;
  private readonly held: Held[] = [];
  private heldTimer: TimerHandle | null = null;
  private heldTimerAt = Number.POSITIVE_INFINITY;
  /** FIFO of delayed datagrams; release times never decrease, so jitter cannot reorder. */
  private readonly line: Scheduled[] = [];
  private lineHead = 0;
  private lineTimer: TimerHandle | null = null;
  private lastReleaseAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(
    conditions: Partial<LinkConditions>,
    seed: number,
    private readonly blackouts: BlackoutSchedule,
    private readonly clock: Clock,
    private readonly deliver: (data: Uint8Array) => void,
  ) {
    this.conditions = { ...perfectLink, ...conditions };
    checkConditions(this.conditions);
    this.lossRng = mulberry32(deriveSeed(seed, 1));
    this.duplicateRng = mulberry32(deriveSeed(seed, 2));
    this.reorderRng = mulberry32(deriveSeed(seed, 3));
    this.corruptRng = mulberry32(deriveSeed(seed, 4));
    this.delayRng = mulberry32(deriveSeed(seed, 5));
  }

  current(): LinkConditions {
    return { ...this.conditions };
  }

  setConditions(partial: Partial<LinkConditions>): void {
    const next = { ...this.conditions, ...partial };
    checkConditions(next);
    this.conditions = next;
  }

  push(data: Uint8Array): void {
    if (this.closed) return;
    const c = this.conditions;
    this.stats.received++;
    if (this.blackouts.isDark(this.clock.now())) {
      this.stats.blackedOut++;
      return;
    }
    // Every stream is drawn exactly once per datagram whatever the probabilities, so one knob's
    // pattern does not shift when another knob changes.
    const lossDraw = this.lossRng();
    const corruptDraw = this.corruptRng();
    const duplicateDraw = this.duplicateRng();
    if (lossDraw < c.loss) {
      this.stats.dropped++;
      return;
    }
    let out = data;
    if (corruptDraw < c.corrupt && data.length > 0) {
      out = this.corrupt(data);
      this.stats.corrupted++;
    }
    this.admit(out);
    if (duplicateDraw < c.duplicate) {
      this.stats.duplicated++;
      this.admit(out);
    }
  }

  /** Stops timers and discards whatever is still held or delayed. */
  close(): void {
    this.closed = true;
    this.heldTimer?.cancel();
    this.lineTimer?.cancel();
    this.heldTimer = this.lineTimer = null;
    this.held.length = 0;
    this.line.length = 0;
    this.lineHead = 0;
  }

  /** Number of datagrams currently held back or waiting in the delay line. */
  pending(): number {
    return this.held.length + this.line.length - this.lineHead;
  }

  private corrupt(data: Uint8Array): Uint8Array {
    // new Uint8Array(view) copies; Buffer#slice would alias the caller's bytes.
    const copy = new Uint8Array(data);
    const bits = copy.length * 8;
    const flips = Math.min(bits, 1 + Math.floor(this.corruptRng() * 3));
    const chosen: number[] = [];
    while (chosen.length < flips) {
      const bit = Math.floor(this.corruptRng() * bits);
      if (chosen.includes(bit)) continue;
      chosen.push(bit);
      copy[bit >>> 3]! ^= 1 << (bit & 7);
    }
    return copy;
  }

  private admit(data: Uint8Array): void {
    const c = this.conditions;
    if (this.reorderRng() < c.reorder && c.reorderGap > 0) {
      this.stats.reordered++;
      this.held.push({ data, remaining: c.reorderGap, deadline: this.clock.now() + c.reorderMaxMs });
      this.armHeldTimer();
      return;
    }
    this.schedule(data);
    if (this.held.length > 0) this.passHeld();
  }

  /** A datagram went past the held ones: those that have been overtaken `reorderGap` times go out now. */
  private passHeld(): void {
    for (let i = 0; i < this.held.length; ) {
      const h = this.held[i]!;
      if (--h.remaining > 0) {
        i++;
        continue;
      }
      this.held.splice(i, 1);
      this.schedule(h.data);
    }
  }

  private armHeldTimer(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const h of this.held) earliest = Math.min(earliest, h.deadline);
    if (earliest >= this.heldTimerAt) return;
    this.heldTimer?.cancel();
    this.heldTimerAt = earliest;
    this.heldTimer = this.clock.setTimeout(
      () => this.releaseExpired(),
      Math.max(0, earliest - this.clock.now()),
    );
  }

  private releaseExpired(): void {
    this.heldTimer = null;
    this.heldTimerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (let i = 0; i < this.held.length; ) {
      const h = this.held[i]!;
      if (h.deadline > now) {
        i++;
        continue;
      }
      this.held.splice(i, 1);
      this.schedule(h.data);
    }
    if (this.held.length > 0) this.armHeldTimer();
  }

  private schedule(data: Uint8Array): void {
    const c = this.conditions;
    const jitter = c.jitterMs > 0 ? this.delayRng() * c.jitterMs : 0;
    if (c.delayMs === 0 && jitter === 0 && this.lineHead === this.line.length) {
      this.emit(data);
      return;
    }
    const at = Math.max(this.clock.now() + c.delayMs + jitter, this.lastReleaseAt);
    this.lastReleaseAt = at;
    this.line.push({ data, at });
    if (this.lineTimer === null) this.armLineTimer();
  }

  private armLineTimer(): void {
    const head = this.line[this.lineHead]!;
    this.lineTimer = this.clock.setTimeout(() => this.releaseDue(), Math.max(0, head.at - this.clock.now()));
  }

  private releaseDue(): void {
    this.lineTimer = null;
    // Node timers have millisecond resolution and may fire a fraction early: release what is due
    // within that slack rather than re-arming for a sub-millisecond remainder.
    const horizon = this.clock.now() + 0.5;
    while (this.lineHead < this.line.length && this.line[this.lineHead]!.at <= horizon) {
      this.emit(this.line[this.lineHead++]!.data);
    }
    if (this.lineHead === this.line.length) {
      this.line.length = 0;
      this.lineHead = 0;
    } else {
      if (this.lineHead > 1024) {
        this.line.splice(0, this.lineHead);
        this.lineHead = 0;
      }
      this.armLineTimer();
    }
  }

  private emit(data: Uint8Array): void {
    this.stats.forwarded++;
    this.stats.bytesForwarded += data.length;
    this.deliver(data);
  }
}

export type Direction = "aToB" | "bToA";

export interface RelayOptions extends Partial<LinkConditions> {
  /** Side facing the client X (X's configured peer). */
  a: SocketAddress;
  /** Side facing the target Y (Y's configured peer). */
  b: SocketAddress;
  /** Y's real address. */
  target: SocketAddress;
  seed?: number;
  /** Per-direction overrides of the flat conditions above. */
  aToB?: Partial<LinkConditions>;
  bToA?: Partial<LinkConditions>;
  blackouts?: BlackoutWindow[];
  /** Socket buffer sizes (default 4 MiB: the kernel's cap here; the default 208 KiB overflows at once). */
  bufferSize?: number;
  clock?: Clock;
}

export interface RelayStats {
  aToB: LinkStats;
  bToA: LinkStats;
  /** Datagrams arriving at side B from anyone but the target. */
  strangers: number;
  /** Replies from the target before any client datagram told us where to send them. */
  unroutable: number;
  /** Socket errors (send failures), counted rather than thrown. */
  errors: number;
}

export interface Relay {
  /** Bound addresses (useful when a port was 0). */
  readonly a: SocketAddress;
  readonly b: SocketAddress;
  stats(): RelayStats;
  /** Changes conditions for one direction, or both when `direction` is omitted. */
  setConditions(partial: Partial<LinkConditions>, direction?: Direction): void;
  /** Drops everything in both directions from now for `durationMs`. */
  blackout(durationMs: number): void;
  close(): Promise<void>;
}

const defaultBufferSize = 4 * 1024 * 1024;

function bind(address: SocketAddress, bufferSize: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({
      type: "udp4",
      recvBufferSize: bufferSize,
      sendBufferSize: bufferSize,
      // Every address the relay uses is an IPv4 literal (checked in startRelay).
      lookup: literalLookup,
    });
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once("error", onError);
    socket.bind(address.port, address.host, () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

function flatConditions(opts: RelayOptions): Partial<LinkConditions> {
  const out: Partial<LinkConditions> = {};
  for (const key of Object.keys(perfectLink) as (keyof LinkConditions)[]) {
    const value = opts[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const clock = opts.clock ?? systemClock;
  const bufferSize = opts.bufferSize ?? defaultBufferSize;
  const seed = opts.seed ?? 1;
  const base = flatConditions(opts);
  const aToBConditions = { ...perfectLink, ...base, ...opts.aToB };
  const bToAConditions = { ...perfectLink, ...base, ...opts.bToA };
  // Validate before binding, so a bad option cannot leak open sockets.
  for (const [name, address] of [
    ["a", opts.a],
    ["b", opts.b],
    ["target", opts.target],
  ] as const) {
    if (!isIPv4(address.host))
      throw new RangeError(`${name}.host must be an IPv4 address, got ${address.host}`);
  }
  checkConditions(aToBConditions);
  checkConditions(bToAConditions);
  const blackouts = new BlackoutSchedule(clock.now());
  for (const w of opts.blackouts ?? []) blackouts.add(w);

  const sideA = await bind(opts.a, bufferSize);
  let sideB: Socket;
  try {
    sideB = await bind(opts.b, bufferSize);
  } catch (err) {
    sideA.close();
    throw err;
  }

  let errors = 0;
  let strangers = 0;
  let unroutable = 0;
  let client: SocketAddress | null = null;
  const countError = () => {
    errors++;
  };
  sideA.on("error", countError);
  sideB.on("error", countError);

  const target = opts.target;
  const aToB = new ImpairedLink(aToBConditions, deriveSeed(seed, 101), blackouts, clock, (data) =>
    sideB.send(data, target.port, target.host),
  );
  const bToA = new ImpairedLink(bToAConditions, deriveSeed(seed, 202), blackouts, clock, (data) => {
    if (client === null) {
      unroutable++;
      return;
    }
    sideA.send(data, client.port, client.host);
  });

  sideA.on("message", (msg, rinfo) => {
    if (client === null || client.port !== rinfo.port || client.host !== rinfo.address) {
      client = { host: rinfo.address, port: rinfo.port };
    }
    aToB.push(msg);
  });
  sideB.on("message", (msg, rinfo) => {
    if (rinfo.port !== target.port || rinfo.address !== target.host) {
      strangers++;
      return;
    }
    bToA.push(msg);
  });

  const pruneTimer = setInterval(() => blackouts.prune(clock.now()), 1000);
  pruneTimer.unref();

  const boundA = sideA.address();
  const boundB = sideB.address();
  let closing: Promise<void> | null = null;
  return {
    a: { host: boundA.address, port: boundA.port },
    b: { host: boundB.address, port: boundB.port },
    stats: () => ({
      aToB: { ...aToB.stats },
      bToA: { ...bToA.stats },
      strangers,
      unroutable,
      errors,
    }),
    setConditions(partial, direction) {
      if (direction !== "bToA") aToB.setConditions(partial);
      if (direction !== "aToB") bToA.setConditions(partial);
    },
    blackout(durationMs) {
      blackouts.startAt(clock.now(), durationMs);
    },
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        aToB.close();
        bToA.close();
        await Promise.all([
          new Promise<void>((resolve) => sideA.close(() => resolve())),
          new Promise<void>((resolve) => sideB.close(() => resolve())),
        ]);
      })();
      return closing;
    },
  };
}
