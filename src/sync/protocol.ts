/**
 * The sync messages exchanged over an established connection (see docs/PROTOCOL.md, "Sync messages").
 * HELLO, INDEX and REQUEST travel on the ordered message channel, RESPONSE on the unordered bulk channel.
 * decode* checks structure and bounds only; whether an entry is acceptable (its path, its block list) is
 * decided per entry by validate.ts, so one bad entry does not cost the whole batch.
 */
import type { BlockInfo, EntryType, FileInfo, VersionVector } from "../index/types.js";
import { ByteReader, ByteWriter, DecodeError } from "./bytes.js";
import { MAX_PATH_BYTES } from "./paths.js";

export const PROTOCOL_VERSION = 1;

export const MessageType = { Hello: 1, Index: 2, Request: 3, Response: 4 } as const;

/** Entries per INDEX message: keeps one message (and the work to apply it) small. */
export const MAX_INDEX_BATCH = 1000;
/** Devices in one version vector: far more than any real share has. */
export const MAX_VERSION_DEVICES = 1024;
/** Blocks per file: 2^24 blocks of the smallest size still covers 1 TiB. */
export const MAX_BLOCKS = 1 << 24;
/** Largest block a peer may ask for or send (4 × the largest --block-size). */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;

const DEVICE_BYTES = 16;
const HASH_BYTES = 8;
const DIGEST_BYTES = 32;
const BLOCK_ENTRY_BYTES = 4 + HASH_BYTES;
const VERSION_ENTRY_BYTES = DEVICE_BYTES + 8;
/** Largest representable mtime (±8.64e15 ms is the range of a JS Date). */
const MAX_MTIME_MS = 8.64e15;

export interface Hello {
  type: typeof MessageType.Hello;
  deviceId: string;
  /** "Send me your index entries with a sequence greater than this." */
  since: number;
}

export interface Index {
  type: typeof MessageType.Index;
  files: FileInfo[];
  /** The sender has now sent everything it had when it began answering (or last announced). */
  complete: boolean;
}

export interface Request {
  type: typeof MessageType.Request;
  reqId: number;
  path: string;
  /** Digest of the file version the block belongs to. */
  digest: string;
  offset: number;
  size: number;
  /** xxh64 of the wanted bytes. */
  hash: string;
}

export const ResponseStatus = { Ok: 0, Unavailable: 1 } as const;
export type ResponseStatus = (typeof ResponseStatus)[keyof typeof ResponseStatus];

export interface Response {
  type: typeof MessageType.Response;
  reqId: number;
  status: ResponseStatus;
  /** The block (a view into the received message), empty unless status is Ok. */
  data: Uint8Array;
}

export type Message = Hello | Index | Request | Response;

const entryTypes: readonly EntryType[] = ["file", "dir", "symlink"];

export function encodeHello(deviceId: string, since: number): Uint8Array {
  return new ByteWriter(32)
    .u8(MessageType.Hello)
    .u8(PROTOCOL_VERSION)
    .hex(deviceId, DEVICE_BYTES)
    .u64(since)
    .finish();
}

function writeFile(w: ByteWriter, f: FileInfo): void {
  w.str16(f.path)
    .u8(entryTypes.indexOf(f.type))
    .u8(f.deleted ? 1 : 0)
    .u64(f.size)
    .f64(f.mtimeMs)
    .u16(f.mode);
  const devices = Object.keys(f.version);
  w.u16(devices.length);
  for (const d of devices) w.hex(d, DEVICE_BYTES).u64(f.version[d]!);
  w.hex(f.modifiedBy, DEVICE_BYTES).u64(f.sequence).u32(f.blocks.length);
  for (const b of f.blocks) w.u32(b.size).hex(b.hash, HASH_BYTES);
  if (f.digest === "") w.u8(0);
  else w.u8(DIGEST_BYTES).hex(f.digest, DIGEST_BYTES);
  w.str16(f.target);
}

/** One INDEX message; callers split their entries into batches of at most MAX_INDEX_BATCH. */
export function encodeIndex(files: readonly FileInfo[], complete: boolean): Uint8Array {
  if (files.length > MAX_INDEX_BATCH) throw new RangeError(`index batch of ${files.length} entries`);
  const w = new ByteWriter(64 + files.length * 128);
  w.u8(MessageType.Index)
    .u8(complete ? 1 : 0)
    .u16(files.length);
  for (const f of files) writeFile(w, f);
  return w.finish();
}

export function encodeRequest(r: Omit<Request, "type">): Uint8Array {
  return new ByteWriter(96 + r.path.length)
    .u8(MessageType.Request)
    .u32(r.reqId)
    .str16(r.path)
    .hex(r.digest, DIGEST_BYTES)
    .u64(r.offset)
    .u32(r.size)
    .hex(r.hash, HASH_BYTES)
    .finish();
}

/** Bytes in front of a RESPONSE's data, so that the server can read the block straight behind them. */
export const RESPONSE_HEADER_BYTES = 6;

/** Fills the header of a RESPONSE whose data occupies `buf` from RESPONSE_HEADER_BYTES to the end. */
export function writeResponseHeader(buf: Uint8Array, reqId: number, status: ResponseStatus): void {
  const view = new DataView(buf.buffer, buf.byteOffset, RESPONSE_HEADER_BYTES);
  view.setUint8(0, MessageType.Response);
  view.setUint32(1, reqId);
  view.setUint8(5, status);
}

export function encodeResponse(reqId: number, status: ResponseStatus, data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(RESPONSE_HEADER_BYTES + data.byteLength);
  writeResponseHeader(buf, reqId, status);
  buf.set(data, RESPONSE_HEADER_BYTES);
  return buf;
}

function readDevice(r: ByteReader, what: string): string {
  return r.hex(DEVICE_BYTES, what);
}

function readVersion(r: ByteReader): VersionVector {
  const count = r.u16("version count");
  if (count > MAX_VERSION_DEVICES) throw new DecodeError(`version vector of ${count} devices`);
  if (count * VERSION_ENTRY_BYTES > r.remaining) throw new DecodeError("truncated version vector");
  const version: VersionVector = {};
  for (let i = 0; i < count; i++) {
    const device = readDevice(r, "version device");
    const counter = r.u64("version counter");
    if (counter === 0) throw new DecodeError("zero version counter");
    if (device in version) throw new DecodeError("duplicate device in version vector");
    version[device] = counter;
  }
  return version;
}

function readBlocks(r: ByteReader): BlockInfo[] {
  const count = r.u32("block count");
  if (count > MAX_BLOCKS) throw new DecodeError(`${count} blocks`);
  // Checked before allocating: the array can never be larger than the message that describes it.
  if (count * BLOCK_ENTRY_BYTES > r.remaining) throw new DecodeError("truncated block list");
  const blocks: BlockInfo[] = new Array(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const size = r.u32("block size");
    if (size === 0 || size > MAX_BLOCK_BYTES) throw new DecodeError(`block size ${size}`);
    blocks[i] = { offset, size, hash: r.hex(HASH_BYTES, "block hash") };
    offset += size;
  }
  return blocks;
}

function readFile(r: ByteReader): FileInfo {
  const path = r.str16(MAX_PATH_BYTES, "path");
  const type = entryTypes[r.u8("entry type")];
  if (type === undefined) throw new DecodeError("unknown entry type");
  const flags = r.u8("entry flags");
  if (flags > 1) throw new DecodeError(`unknown entry flags ${flags}`);
  const size = r.u64("size");
  const mtimeMs = r.f64("mtime");
  if (!Number.isFinite(mtimeMs) || Math.abs(mtimeMs) > MAX_MTIME_MS)
    throw new DecodeError("mtime out of range");
  const mode = r.u16("mode");
  if (mode > 0o7777) throw new DecodeError(`mode ${mode.toString(8)}`);
  const version = readVersion(r);
  const modifiedBy = readDevice(r, "modifiedBy");
  const sequence = r.u64("sequence");
  const blocks = readBlocks(r);
  const digestLen = r.u8("digest length");
  if (digestLen !== 0 && digestLen !== DIGEST_BYTES) throw new DecodeError(`digest length ${digestLen}`);
  const digest = r.hex(digestLen, "digest");
  const target = r.str16(MAX_PATH_BYTES, "link target");
  return {
    path,
    type,
    size,
    mtimeMs,
    mode,
    deleted: flags === 1,
    version,
    modifiedBy,
    sequence,
    blocks,
    digest,
    target,
  };
}

function decodeHello(r: ByteReader): Hello {
  const version = r.u8("protocol version");
  if (version !== PROTOCOL_VERSION) throw new DecodeError(`protocol version ${version}`);
  const hello: Hello = {
    type: MessageType.Hello,
    deviceId: readDevice(r, "device id"),
    since: r.u64("since"),
  };
  r.end("HELLO");
  return hello;
}

function decodeIndex(r: ByteReader): Index {
  const flags = r.u8("index flags");
  if (flags > 1) throw new DecodeError(`unknown index flags ${flags}`);
  const count = r.u16("index count");
  if (count > MAX_INDEX_BATCH) throw new DecodeError(`index batch of ${count} entries`);
  const files: FileInfo[] = [];
  for (let i = 0; i < count; i++) files.push(readFile(r));
  r.end("INDEX");
  return { type: MessageType.Index, files, complete: flags === 1 };
}

function decodeRequest(r: ByteReader): Request {
  const reqId = r.u32("request id");
  const path = r.str16(MAX_PATH_BYTES, "path");
  const digest = r.hex(DIGEST_BYTES, "digest");
  const offset = r.u64("offset");
  const size = r.u32("size");
  if (size === 0 || size > MAX_BLOCK_BYTES) throw new DecodeError(`request size ${size}`);
  const hash = r.hex(HASH_BYTES, "hash");
  r.end("REQUEST");
  return { type: MessageType.Request, reqId, path, digest, offset, size, hash };
}

function decodeResponse(r: ByteReader): Response {
  const reqId = r.u32("request id");
  const status = r.u8("status");
  if (status !== ResponseStatus.Ok && status !== ResponseStatus.Unavailable) {
    throw new DecodeError(`unknown response status ${status}`);
  }
  const data = r.rest();
  if (data.byteLength > MAX_BLOCK_BYTES) throw new DecodeError(`response of ${data.byteLength} bytes`);
  if (status !== ResponseStatus.Ok && data.byteLength !== 0)
    throw new DecodeError("data in a failure response");
  return { type: MessageType.Response, reqId, status, data };
}

/** Decodes any sync message; throws DecodeError (and nothing else) on malformed input. */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new ByteReader(bytes);
  const type = r.u8("message type");
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
      throw new DecodeError(`unknown message type ${type}`);
  }
}
