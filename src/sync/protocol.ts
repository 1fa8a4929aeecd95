/**
 * The sync messages exchanged over an established connection (see docs/PROTOCOL.md, "Sync messages").
 * HELLO, INDEX and REQUEST travel on the ordered message channel, RESPONSE on the unordered bulk channel.
 *
 * Decoding follows src/wire's convention: it never throws, it returns the message or a DecodeError, and
 * every count is checked against the bytes present before anything is allocated for it. decodeMessage
 * checks structure and bounds only; whether an entry is acceptable (its path, its block list) is decided
 * per entry by validate.ts, so one bad entry does not cost the whole batch. A block list sent as a delta
 * (block-delta.ts) is decoded as such: the engine resolves it against its own index before validating.
 */
import type { BlockInfo, EntryType, VersionVector } from "../index/types.js";
import { ByteReader, writeU8, writeU16, writeU32, writeU64 } from "../wire/bytes.js";
import { DecodeError } from "../wire/errors.js";
import {
  type AnnouncedEntry,
  announcedBlocks,
  type BlockDelta,
  type BlockOp,
  type DeltaBlock,
  opLength,
} from "./block-delta.js";
import { MAX_PATH_BYTES } from "./paths.js";

/**
 * 2: HELLO flags, INDEX `reply` flag, block lists as deltas (block-delta.ts).
 * 3: digests of files over 8 MiB are segment trees (pipeline/digest.ts).
 * 4: digests are BLAKE3 instead of SHA-256.
 */
export const PROTOCOL_VERSION = 4;

export const MessageType = { Hello: 1, Index: 2, Request: 3, Response: 4 } as const;

/** Entries per INDEX message: keeps one message (and the work to apply it) small. */
export const MAX_INDEX_BATCH = 1000;
/** Devices in one version vector: far more than any real share has. */
export const MAX_VERSION_DEVICES = 1024;
/**
 * Blocks per file, and in all entries of one INDEX message together. Decoding costs ≈100 bytes of heap
 * and ≈1 µs of main-thread time per block here, so one message costs at most ≈100 MiB and about a
 * second, whatever a peer sends (under the former 2^24 it was 1.7 GiB and a minute). Files with more
 * blocks are not announced (SYNC.md, limits): 2^20 blocks of the default 64 KiB average cover
 * ≈64 GiB, of the largest (2 MiB average) ≈2 TiB.
 */
export const MAX_BLOCKS = 1 << 20;
/**
 * Largest block or run a peer may ask for or send: 4 × the largest --block-size, and within one bulk
 * message.
 */
export const MAX_BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks in one request: runs are cut at about 1 MiB, so even 4 KiB blocks stay far below this. */
export const MAX_RUN_BLOCKS = 1024;

const DEVICE_BYTES = 16;
const HASH_BYTES = 8;
const DIGEST_BYTES = 32;
const BLOCK_ENTRY_BYTES = 4 + HASH_BYTES;
const VERSION_ENTRY_BYTES = DEVICE_BYTES + 8;
/** Delta header: base sequence, base digest, op count. */
const DELTA_HEADER_BYTES = 8 + DIGEST_BYTES + 4;
/** Also the smallest op: an op count is checked against it before the ops are read. */
const COPY_OP_BYTES = 1 + 4 + 4;
const LITERAL_OP_BYTES = 1 + 4;
const ENTRY_DELETED = 1;
const ENTRY_DELTA = 2;
const HELLO_FULL = 1;
const INDEX_COMPLETE = 1;
const INDEX_REPLY = 2;
const OP_COPY = 0;
const OP_LITERAL = 1;
/** Largest representable mtime (±8.64e15 ms is the range of a JS Date). */
const MAX_MTIME_MS = 8.64e15;

export interface Hello {
  type: typeof MessageType.Hello;
  deviceId: string;
  /** "Send me your index entries with a sequence greater than this." */
  since: number;
  /**
   * "Send every block list in full, in the answer and on this connection until my next HELLO": a delta
   * of yours named a base this host no longer has.
   */
  full: boolean;
}

export interface Index {
  type: typeof MessageType.Index;
  files: AnnouncedEntry[];
  /** The sender has now sent every entry it had when it began this announcement. */
  complete: boolean;
  /** The first message answering a HELLO: what came before it on the connection did not answer that HELLO. */
  reply: boolean;
}

export interface Request {
  type: typeof MessageType.Request;
  reqId: number;
  path: string;
  /** Digest of the file version the blocks belong to. */
  digest: string;
  /** Offset of the first block. */
  offset: number;
  /**
   * Consecutive blocks of that version from `offset` on (a run): the answer is their bytes back to back.
   * Asking for a run instead of block by block divides the per-request costs on both sides (index
   * lookups, reads, writes, messages) by the run's length.
   */
  blocks: RunBlock[];
}

/** A block of a request: its size and the xxh64 its bytes must have. */
export type RunBlock = Pick<BlockInfo, "size" | "hash">;

/** Ok: the block as is; Compressed: the block as a Brotli stream (--compress); Unavailable: no data. */
export const ResponseStatus = { Ok: 0, Unavailable: 1, Compressed: 2 } as const;
export type ResponseStatus = (typeof ResponseStatus)[keyof typeof ResponseStatus];

export interface Response {
  type: typeof MessageType.Response;
  reqId: number;
  status: ResponseStatus;
  /** The block or its compressed form (a view into the received message); empty when Unavailable. */
  data: Uint8Array;
}

export type Message = Hello | Index | Request | Response;

const entryTypes: readonly EntryType[] = ["file", "dir", "symlink"];
const utf8 = new TextDecoder("utf-8", { fatal: true });

// ---- encoding (local values: out-of-range input is a bug and throws RangeError) ----

function writeHex(out: Buffer, p: number, hex: string, n: number): number {
  // Buffer.write stops at the first non-hex character, so a short count exposes malformed input.
  if (hex.length !== n * 2 || out.write(hex, p, n, "hex") !== n) {
    throw new RangeError(`expected ${n} hex bytes: ${JSON.stringify(hex)}`);
  }
  return p + n;
}

function writeStr16(out: Buffer, p: number, s: string, byteLength: number): number {
  if (byteLength > 0xffff) throw new RangeError("string longer than 65535 bytes");
  p = writeU16(out, p, byteLength);
  return p + out.write(s, p, byteLength, "utf8");
}

export function encodeHello(deviceId: string, since: number, full = false): Uint8Array {
  const out = Buffer.allocUnsafe(2 + DEVICE_BYTES + 8 + 1);
  let p = writeU8(out, 0, MessageType.Hello);
  p = writeU8(out, p, PROTOCOL_VERSION);
  p = writeHex(out, p, deviceId, DEVICE_BYTES);
  p = writeU64(out, p, since);
  writeU8(out, p, full ? HELLO_FULL : 0);
  return out;
}

/** Encoded size of an entry's block list, in full or as a delta (so callers can pick the smaller). */
export function blockListBytes(e: AnnouncedEntry): number {
  if (e.blocks !== null) return 4 + e.blocks.length * BLOCK_ENTRY_BYTES;
  let size = DELTA_HEADER_BYTES;
  for (const op of e.delta.ops) {
    size += op.op === "copy" ? COPY_OP_BYTES : LITERAL_OP_BYTES + op.blocks.length * BLOCK_ENTRY_BYTES;
  }
  return size;
}

function fileSize(f: AnnouncedEntry, pathBytes: number, targetBytes: number): number {
  const fixed = 2 + 1 + 1 + 8 + 8 + 2 + 2 + DEVICE_BYTES + 8 + 1 + 2;
  const version = Object.keys(f.version).length * VERSION_ENTRY_BYTES;
  const digest = f.digest === "" ? 0 : DIGEST_BYTES;
  return fixed + pathBytes + version + blockListBytes(f) + digest + targetBytes;
}

function writeBlock(out: Buffer, p: number, b: DeltaBlock): number {
  p = writeU32(out, p, b.size);
  return writeHex(out, p, b.hash, HASH_BYTES);
}

function writeOps(out: Buffer, p: number, ops: readonly BlockOp[]): number {
  p = writeU32(out, p, ops.length);
  for (const op of ops) {
    if (op.op === "copy") {
      p = writeU8(out, p, OP_COPY);
      p = writeU32(out, p, op.start);
      p = writeU32(out, p, op.count);
    } else {
      p = writeU8(out, p, OP_LITERAL);
      p = writeU32(out, p, op.blocks.length);
      for (const b of op.blocks) p = writeBlock(out, p, b);
    }
  }
  return p;
}

function writeFile(
  out: Buffer,
  p: number,
  f: AnnouncedEntry,
  pathBytes: number,
  targetBytes: number,
): number {
  p = writeStr16(out, p, f.path, pathBytes);
  p = writeU8(out, p, entryTypes.indexOf(f.type));
  p = writeU8(out, p, (f.deleted ? ENTRY_DELETED : 0) | (f.blocks === null ? ENTRY_DELTA : 0));
  p = writeU64(out, p, f.size);
  p = out.writeDoubleBE(f.mtimeMs, p);
  p = writeU16(out, p, f.mode);
  const devices = Object.keys(f.version);
  p = writeU16(out, p, devices.length);
  for (const d of devices) {
    p = writeHex(out, p, d, DEVICE_BYTES);
    p = writeU64(out, p, f.version[d]!);
  }
  p = writeHex(out, p, f.modifiedBy, DEVICE_BYTES);
  p = writeU64(out, p, f.sequence);
  if (f.blocks === null) {
    p = writeU64(out, p, f.delta.baseSequence);
    p = writeHex(out, p, f.delta.baseDigest, DIGEST_BYTES);
    p = writeOps(out, p, f.delta.ops);
  } else {
    p = writeU32(out, p, f.blocks.length);
    for (const b of f.blocks) p = writeBlock(out, p, b);
  }
  if (f.digest === "") {
    p = writeU8(out, p, 0);
  } else {
    p = writeU8(out, p, DIGEST_BYTES);
    p = writeHex(out, p, f.digest, DIGEST_BYTES);
  }
  return writeStr16(out, p, f.target, targetBytes);
}

/**
 * One INDEX message; callers split their entries into batches of at most MAX_INDEX_BATCH entries and
 * MAX_BLOCKS blocks (deltas count the blocks they resolve to). Entries are encoded in the form given.
 */
export function encodeIndex(files: readonly AnnouncedEntry[], complete: boolean, reply = false): Uint8Array {
  if (files.length > MAX_INDEX_BATCH) throw new RangeError(`index batch of ${files.length} entries`);
  let blocks = 0;
  for (const f of files) blocks += announcedBlocks(f);
  if (blocks > MAX_BLOCKS) throw new RangeError(`index batch of ${blocks} blocks`);
  const lengths = files.map((f) => [Buffer.byteLength(f.path), Buffer.byteLength(f.target)] as const);
  let size = 4;
  for (let i = 0; i < files.length; i++) size += fileSize(files[i]!, lengths[i]![0], lengths[i]![1]);
  const out = Buffer.allocUnsafe(size);
  let p = writeU8(out, 0, MessageType.Index);
  p = writeU8(out, p, (complete ? INDEX_COMPLETE : 0) | (reply ? INDEX_REPLY : 0));
  p = writeU16(out, p, files.length);
  for (let i = 0; i < files.length; i++) p = writeFile(out, p, files[i]!, lengths[i]![0], lengths[i]![1]);
  return out;
}

export function encodeRequest(r: Omit<Request, "type">): Uint8Array {
  const pathBytes = Buffer.byteLength(r.path);
  const out = Buffer.allocUnsafe(
    1 + 4 + 2 + pathBytes + DIGEST_BYTES + 8 + 2 + r.blocks.length * BLOCK_ENTRY_BYTES,
  );
  let p = writeU8(out, 0, MessageType.Request);
  p = writeU32(out, p, r.reqId);
  p = writeStr16(out, p, r.path, pathBytes);
  p = writeHex(out, p, r.digest, DIGEST_BYTES);
  p = writeU64(out, p, r.offset);
  p = writeU16(out, p, r.blocks.length);
  for (const b of r.blocks) {
    p = writeU32(out, p, b.size);
    p = writeHex(out, p, b.hash, HASH_BYTES);
  }
  return out;
}

/** Bytes in front of a RESPONSE's data, so that the server can read the block straight behind them. */
export const RESPONSE_HEADER_BYTES = 6;

/** Fills the header of a RESPONSE whose data occupies `buf` from RESPONSE_HEADER_BYTES to the end. */
export function writeResponseHeader(buf: Uint8Array, reqId: number, status: ResponseStatus): void {
  writeU8(buf, writeU32(buf, writeU8(buf, 0, MessageType.Response), reqId), status);
}

export function encodeResponse(reqId: number, status: ResponseStatus, data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(RESPONSE_HEADER_BYTES + data.byteLength);
  writeResponseHeader(buf, reqId, status);
  buf.set(data, RESPONSE_HEADER_BYTES);
  return buf;
}

// ---- decoding (peer input: never throws) ----

function readHex(r: ByteReader, n: number, what: string): string {
  return Buffer.from(r.view(n, what)).toString("hex");
}

function readF64(r: ByteReader, what: string): number {
  const v = r.view(8, what);
  return r.error ? 0 : new DataView(v.buffer, v.byteOffset, 8).getFloat64(0);
}

/** UTF-8 with a u16 byte length; invalid UTF-8 is an error, not U+FFFD: a path must mean one name. */
function readStr16(r: ByteReader, max: number, what: string): string {
  const len = r.u16(what);
  if (len > max) r.fail("oversized", `${what} of ${len} bytes, limit ${max}`);
  const bytes = r.view(len, what);
  if (r.error) return "";
  try {
    return utf8.decode(bytes);
  } catch {
    r.fail("bad-value", `${what} is not valid UTF-8`);
    return "";
  }
}

function readVersion(r: ByteReader): VersionVector {
  const count = r.u16("version count");
  if (count > MAX_VERSION_DEVICES) r.fail("oversized", `version vector of ${count} devices`);
  if (count * VERSION_ENTRY_BYTES > r.remaining) r.fail("bad-length", "version vector beyond message end");
  const version: VersionVector = {};
  for (let i = 0; i < count && !r.error; i++) {
    const device = readHex(r, DEVICE_BYTES, "version device");
    const counter = r.u64("version counter");
    if (counter === 0) r.fail("bad-value", "zero version counter");
    if (device in version) r.fail("bad-value", "duplicate device in version vector");
    version[device] = counter;
  }
  return version;
}

function readBlock(r: ByteReader): DeltaBlock {
  const size = r.u32("block size");
  if (size === 0 || size > MAX_BLOCK_BYTES) r.fail("bad-value", `block size ${size}`);
  return { size, hash: readHex(r, HASH_BYTES, "block hash") };
}

/** `limit`: blocks the message may still carry (MAX_BLOCKS in all its entries together). */
function readBlocks(r: ByteReader, limit: number): BlockInfo[] {
  const count = r.u32("block count");
  if (count > limit) r.fail("oversized", `${count} blocks, limit ${limit}`);
  // Checked before allocating: the array is never larger than the message that describes it.
  if (count * BLOCK_ENTRY_BYTES > r.remaining) r.fail("bad-length", "block list beyond message end");
  if (r.error) return [];
  const blocks: BlockInfo[] = new Array(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const b = readBlock(r);
    blocks[i] = { offset, size: b.size, hash: b.hash };
    offset += b.size;
  }
  return blocks;
}

/**
 * One op of a delta; `room`: blocks it may still stand for. Ops must be canonical (block-delta.ts): an
 * encoding has one meaning and a meaning one encoding.
 */
function readOp(r: ByteReader, prev: BlockOp | undefined, room: number): BlockOp {
  const kind = r.u8("op kind");
  if (kind === OP_COPY) {
    const start = r.u32("copy start");
    const count = r.u32("copy count");
    if (count === 0) r.fail("bad-value", "empty copy");
    if (count > room) r.fail("oversized", `delta of more than ${room} blocks`);
    if (prev?.op === "copy" && prev.start + prev.count === start) {
      r.fail("bad-value", "copy continues the previous copy");
    }
    return { op: "copy", start, count };
  }
  if (kind !== OP_LITERAL) r.fail("bad-value", `op kind ${kind}`);
  if (prev?.op === "literal") r.fail("bad-value", "literal follows a literal");
  const count = r.u32("literal count");
  if (count === 0) r.fail("bad-value", "empty literal");
  if (count > room) r.fail("oversized", `delta of more than ${room} blocks`);
  if (count * BLOCK_ENTRY_BYTES > r.remaining) r.fail("bad-length", "literal beyond message end");
  const blocks: DeltaBlock[] = [];
  for (let i = 0; i < count && !r.error; i++) blocks.push(readBlock(r));
  return { op: "literal", blocks };
}

/** A delta block list; `limit` as for readBlocks, counting the blocks the ops stand for. */
function readDelta(r: ByteReader, limit: number): BlockDelta {
  const baseSequence = r.u64("base sequence");
  const baseDigest = readHex(r, DIGEST_BYTES, "base digest");
  const count = r.u32("op count");
  if (count === 0) r.fail("bad-value", "delta without ops");
  if (count * COPY_OP_BYTES > r.remaining) r.fail("bad-length", "ops beyond message end");
  const ops: BlockOp[] = [];
  let blocks = 0;
  for (let i = 0; i < count && !r.error; i++) {
    const op = readOp(r, ops[ops.length - 1], limit - blocks);
    blocks += opLength(op);
    ops.push(op);
  }
  return { baseSequence, baseDigest, ops };
}

function readFile(r: ByteReader, blockLimit: number): AnnouncedEntry {
  const path = readStr16(r, MAX_PATH_BYTES, "path");
  const typeCode = r.u8("entry type");
  const type = entryTypes[typeCode] ?? "file";
  if (typeCode >= entryTypes.length) r.fail("bad-value", `entry type ${typeCode}`);
  const flags = r.u8("entry flags");
  if (flags > (ENTRY_DELETED | ENTRY_DELTA)) r.fail("bad-value", `entry flags ${flags}`);
  // A delta is resolved against the receiver's live file: only a live file can be announced as one.
  if (flags & ENTRY_DELTA && (flags & ENTRY_DELETED || type !== "file")) {
    r.fail("bad-value", `block delta on a ${flags & ENTRY_DELETED ? "tombstone" : type}`);
  }
  const size = r.u64("size");
  const mtimeMs = readF64(r, "mtime");
  if (!(Math.abs(mtimeMs) <= MAX_MTIME_MS)) r.fail("bad-value", "mtime out of range");
  const mode = r.u16("mode");
  if (mode > 0o7777) r.fail("bad-value", `mode ${mode.toString(8)}`);
  const version = readVersion(r);
  const modifiedBy = readHex(r, DEVICE_BYTES, "modifiedBy");
  const sequence = r.u64("sequence");
  const blocks = flags & ENTRY_DELTA ? readDelta(r, blockLimit) : readBlocks(r, blockLimit);
  const digestLen = r.u8("digest length");
  if (digestLen !== 0 && digestLen !== DIGEST_BYTES) r.fail("bad-value", `digest length ${digestLen}`);
  const digest = readHex(r, digestLen, "digest");
  const target = readStr16(r, MAX_PATH_BYTES, "link target");
  const entry = {
    path,
    type,
    size,
    mtimeMs,
    mode,
    deleted: (flags & ENTRY_DELETED) !== 0,
    version,
    modifiedBy,
    sequence,
    digest,
    target,
  };
  return Array.isArray(blocks) ? { ...entry, blocks } : { ...entry, blocks: null, delta: blocks };
}

function decodeHello(r: ByteReader): Hello | DecodeError {
  const version = r.u8("protocol version");
  if (!r.error && version !== PROTOCOL_VERSION) {
    return new DecodeError("unknown-version", `sync protocol version ${version}`, version);
  }
  const deviceId = readHex(r, DEVICE_BYTES, "device id");
  const since = r.u64("since");
  const flags = r.u8("hello flags");
  if (flags > HELLO_FULL) r.fail("bad-value", `hello flags ${flags}`);
  return r.error ?? { type: MessageType.Hello, deviceId, since, full: flags === HELLO_FULL };
}

function decodeIndex(r: ByteReader): Index | DecodeError {
  const flags = r.u8("index flags");
  if (flags > (INDEX_COMPLETE | INDEX_REPLY)) r.fail("bad-value", `index flags ${flags}`);
  const count = r.u16("index count");
  if (count > MAX_INDEX_BATCH) r.fail("oversized", `index batch of ${count} entries`);
  const files: AnnouncedEntry[] = [];
  let blocks = 0;
  for (let i = 0; i < count && !r.error; i++) {
    const f = readFile(r, MAX_BLOCKS - blocks);
    blocks += announcedBlocks(f);
    files.push(f);
  }
  return (
    r.error ?? {
      type: MessageType.Index,
      files,
      complete: (flags & INDEX_COMPLETE) !== 0,
      reply: (flags & INDEX_REPLY) !== 0,
    }
  );
}

function decodeRequest(r: ByteReader): Request | DecodeError {
  const reqId = r.u32("request id");
  const path = readStr16(r, MAX_PATH_BYTES, "path");
  const digest = readHex(r, DIGEST_BYTES, "digest");
  const offset = r.u64("offset");
  const count = r.u16("block count");
  if (count === 0 || count > MAX_RUN_BLOCKS) r.fail("bad-value", `request of ${count} blocks`);
  const blocks: RunBlock[] = [];
  let total = 0;
  for (let i = 0; i < count && !r.error; i++) {
    const size = r.u32("size");
    total += size;
    if (size === 0 || total > MAX_BLOCK_BYTES) r.fail("bad-value", `request size ${total}`);
    blocks.push({ size, hash: readHex(r, HASH_BYTES, "hash") });
  }
  return r.error ?? { type: MessageType.Request, reqId, path, digest, offset, blocks };
}

function decodeResponse(r: ByteReader): Response | DecodeError {
  const reqId = r.u32("request id");
  const status = r.u8("status");
  if (status > ResponseStatus.Compressed) r.fail("bad-value", `response status ${status}`);
  if (r.remaining > MAX_BLOCK_BYTES) r.fail("oversized", `response of ${r.remaining} bytes`);
  if (status === ResponseStatus.Unavailable && r.remaining !== 0) {
    r.fail("bad-length", "data in a failure response");
  }
  const data = r.view(r.remaining, "data");
  return r.error ?? { type: MessageType.Response, reqId, status: status as ResponseStatus, data };
}

function decodeBody(r: ByteReader, type: number): Message | DecodeError {
  switch (type) {
    case MessageType.Hello:
      return decodeHello(r);
    case MessageType.Index:
      return decodeIndex(r);
    case MessageType.Request:
      return decodeRequest(r);
    case MessageType.Response:
      return decodeResponse(r);
    default:
      return r.error ?? new DecodeError("unknown-type", `sync message type ${type}`);
  }
}

/** Decodes any sync message, or says why it is malformed. */
export function decodeMessage(bytes: Uint8Array): Message | DecodeError {
  const r = new ByteReader(bytes);
  const message = decodeBody(r, r.u8("message type"));
  if (message instanceof DecodeError) return message;
  if (r.remaining !== 0) return new DecodeError("bad-length", `${r.remaining} trailing bytes after message`);
  return message;
}
