/**
 * The gear table of the content-defined chunker. Cut points must be identical on every host (two peers
 * only share blocks if they cut the same bytes at the same places), so the table is derived from a fixed
 * seed with mulberry32, a PRNG made of 32-bit integer operations only (no floating point, no platform
 * dependence). Changing GEAR_SEED or the generator changes every block boundary: it is a protocol change.
 * Also here: the scan loop over the table, compiled to WebAssembly (GearKernel).
 */
export const GEAR_SEED = 0x4c454654; // "LEFT"

function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

function gearTable(): Int32Array {
  const next = mulberry32(GEAR_SEED);
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) table[i] = next();
  return table;
}

/** Int32 rather than Uint32 entries: V8 keeps `| 0` arithmetic on them in integer registers (≈5% faster). */
export const GEAR: Int32Array = gearTable();

/** Input bytes per kernel call: the copy stays in L2 while it is scanned, and the kernel needs < 1 MiB. */
export const SCAN_WINDOW = 64 << 10;

/**
 * The gear scan loop compiled to WebAssembly (docs/CHUNKING.md, "Performance"). The JavaScript loop
 * peaked at ≈1.0–1.5 GB/s because TurboFan re-checks the typed arrays' maps and bounds on every access;
 * WebAssembly needs no checks (the gear table and the input live in its own memory, indexed by a byte)
 * and runs the same loop at ≈3.1 GB/s, ≈2.8 GB/s with the copy into its memory. Its integer arithmetic
 * is fully specified and its memory little-endian on every host, so cut points cannot depend on the
 * platform.
 */
export interface GearKernel {
  /** Where the caller copies the bytes to scan (SCAN_WINDOW bytes). */
  readonly input: Uint8Array;
  /**
   * Rolls `hash` over input[0, length) and returns the number of hits, positions where
   * (h & weak) === 0; hitIndex/hitHash describe them. The rolled hash is then in `hash`.
   */
  scan(length: number, hash: number, weak: number): number;
  /** Index in `input` of the byte after which hit `k` occurred. */
  hitIndex(k: number): number;
  /** h after that byte. */
  hitHash(k: number): number;
  /** The hash after the last byte of the latest scan. */
  readonly hash: number;
}

/**
 * Bytes per iteration of the kernel's main loop: one loop test per four bytes is ≈40% faster than one per
 * byte; 8 or 16 gain nothing more.
 */
const STRIDE = 4;

/** Memory layout: GEAR as little-endian int32, then the input window, then (index, hash) pairs of hits. */
const GEAR_AT = 0;
const INPUT_AT = GEAR_AT + 256 * 4;
const HITS_AT = INPUT_AT + SCAN_WINDOW;
const MEMORY_BYTES = HITS_AT + SCAN_WINDOW * 8;
const WASM_PAGE = 64 << 10;

/** The WebAssembly opcodes the kernel uses (core spec, section 5.4). */
const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  globalSet: 0x24,
  i32Load: 0x28,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Shl: 0x74,
  i32ShrU: 0x76,
} as const;
const VOID = 0x40;
const I32 = 0x7f;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    const b = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? b : b | 0x80);
  } while (v !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

function section(id: number, items: number[][]): number[] {
  const body = [...uleb(items.length), ...items.flat()];
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Buffer.from(s, "latin1")];
}

/**
 * Function locals: the parameters (len, h, weak), then p (address of the next byte), hits (next free hit
 * slot), end (of the unrolled part).
 */
const LEN = 0;
const H = 1;
const WEAK = 2;
const P = 3;
const HITS = 4;
const END = 5;
const LOCALS = 3;

const get = (local: number) => [op.localGet, local];
const set = (local: number) => [op.localSet, local];
const tee = (local: number) => [op.localTee, local];
const i32 = (n: number) => [op.i32Const, ...sleb(n)];
const load8u = (offset: number) => [op.i32Load8U, 0, ...uleb(offset)];
const load32 = (offset: number) => [op.i32Load, 2, ...uleb(offset)];
const store32 = (offset: number) => [op.i32Store, 2, ...uleb(offset)];

/** Byte p + k: h = (h << 1) + GEAR[byte]; if (h & weak) == 0, stores (p + k - INPUT_AT, h) at hits. */
function step(k: number): number[] {
  // biome-ignore format: one expression per line
  return [
    get(H), i32(1), [op.i32Shl],
    get(P), load8u(k), i32(2), [op.i32Shl], load32(GEAR_AT),
    [op.i32Add], tee(H),
    get(WEAK), [op.i32And], [op.i32Eqz], [op.if, VOID],
    get(HITS), get(P), i32(k - INPUT_AT), [op.i32Add], store32(0),
    get(HITS), get(H), store32(4),
    get(HITS), i32(8), [op.i32Add], set(HITS),
    [op.end],
  ].flat();
}

/** `while (p < end) { step(0) … step(n - 1); p += n }`, skipped when p >= end on entry. */
function loop(end: number, n: number): number[] {
  const steps: number[][] = [];
  for (let k = 0; k < n; k++) steps.push(step(k));
  // biome-ignore format: one expression per line
  return [
    [op.block, VOID], get(P), get(end), [op.i32GeU], [op.brIf, 0],
    [op.loop, VOID],
    ...steps,
    get(P), i32(n), [op.i32Add], tee(P), get(end), [op.i32LtU], [op.brIf, 0],
    [op.end, op.end],
  ].flat();
}

/** scan(len, h, weak) -> hit count: STRIDE bytes per iteration, then byte by byte for the last len % STRIDE. */
function kernelModule(): Uint8Array {
  // biome-ignore format: one expression per line
  const body = [
    [1, LOCALS, I32], // one group of LOCALS i32 locals
    i32(INPUT_AT), set(P),
    i32(HITS_AT), set(HITS),
    get(LEN), i32(-STRIDE), [op.i32And], i32(INPUT_AT), [op.i32Add], set(END),
    get(LEN), i32(INPUT_AT), [op.i32Add], set(LEN),
    loop(END, STRIDE),
    loop(LEN, 1),
    get(H), [op.globalSet, 0],
    get(HITS), i32(HITS_AT), [op.i32Sub], i32(3), [op.i32ShrU],
    [op.end],
  ].flat();
  const pages = Math.ceil(MEMORY_BYTES / WASM_PAGE);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, [[0x60, 3, I32, I32, I32, 1, I32]]), // type 0: (i32, i32, i32) -> i32
    ...section(3, [[0]]), // function 0 (scan) has type 0
    ...section(5, [[0x01, ...uleb(pages), ...uleb(pages)]]), // one memory of fixed size: views stay valid
    ...section(6, [[I32, 0x01, op.i32Const, 0, op.end]]), // global 0 (hash): mutable i32, initially 0
    ...section(7, [
      [...name("scan"), 0x00, 0],
      [...name("memory"), 0x02, 0],
      [...name("hash"), 0x03, 0],
    ]),
    ...section(10, [[...uleb(body.length), ...body]]),
  ]);
}

/** The part of the WebAssembly JS API used here (tsconfig loads no declaration of it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

function gearKernel(): GearKernel {
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(kernelModule()));
  const scan = exports.scan as (length: number, hash: number, weak: number) => number;
  const memory = exports.memory as { buffer: ArrayBuffer };
  const hash = exports.hash as { value: number };
  const view = new DataView(memory.buffer);
  for (let i = 0; i < 256; i++) view.setInt32(GEAR_AT + i * 4, GEAR[i], true);
  return {
    input: new Uint8Array(memory.buffer, INPUT_AT, SCAN_WINDOW),
    scan,
    hitIndex: (k) => view.getInt32(HITS_AT + k * 8, true),
    hitHash: (k) => view.getInt32(HITS_AT + k * 8 + 4, true),
    get hash() {
      return hash.value;
    },
  };
}

/** One per thread (module state is per worker), created on first use. */
let kernel: GearKernel | undefined;

export function gearKernelInstance(): GearKernel {
  kernel ??= gearKernel();
  return kernel;
}
