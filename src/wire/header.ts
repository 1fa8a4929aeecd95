/**
 * The fixed 20-byte datagram header (big-endian):
 *
 *   u16 magic 0x4C46 "LF" | u8 version | u8 type | u8 flags | 3 bytes reserved (0)
 *   u32 destination connection id | u64 packet number
 *
 * Magic and version are checked before the length so that a datagram of another protocol version is
 * reported as such even if its header is shorter than ours.
 */
import { ByteReader, writeU16, writeU32, writeU64 } from "./bytes.js";
import { DecodeError } from "./errors.js";

export const MAGIC = 0x4c46;
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 20;
/** Largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP). */
export const MAX_DATAGRAM = 65507;

export const PacketType = {
  Init: 1,
  InitAck: 2,
  Confirm: 3,
  Data: 4,
  Close: 5,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export interface PacketHeader {
  type: PacketType;
  /** The receiver's connection id; 0 only in INIT (the responder's id is not known yet). */
  connectionId: number;
  packetNumber: number;
}

export function isPacketType(v: number): v is PacketType {
  return v >= PacketType.Init && v <= PacketType.Close;
}

/** Writes the header at `offset` and returns the offset after it. */
export function writeHeader(out: Uint8Array, offset: number, h: PacketHeader): number {
  let p = writeU16(out, offset, MAGIC);
  out[p++] = PROTOCOL_VERSION;
  out[p++] = h.type;
  // Flags: none are defined in version 1; receivers reject non-zero so a future use cannot be misread.
  out[p++] = 0;
  out[p++] = 0;
  out[p++] = 0;
  out[p++] = 0;
  p = writeU32(out, p, h.connectionId);
  return writeU64(out, p, h.packetNumber);
}

export function encodeHeader(h: PacketHeader): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  writeHeader(out, 0, h);
  return out;
}

/** Decodes the header of a whole datagram; the body is `datagram.subarray(HEADER_SIZE)`. */
export function decodeHeader(datagram: Uint8Array): PacketHeader | DecodeError {
  if (datagram.length > MAX_DATAGRAM) {
    return new DecodeError("oversized", `datagram of ${datagram.length} bytes exceeds ${MAX_DATAGRAM}`);
  }
  const r = new ByteReader(datagram);
  const magic = r.u16("magic");
  if (r.error) return r.error;
  if (magic !== MAGIC) return new DecodeError("bad-magic", `magic 0x${magic.toString(16)}`);
  const version = r.u8("version");
  if (r.error) return r.error;
  if (version !== PROTOCOL_VERSION) {
    return new DecodeError("unknown-version", `protocol version ${version}`, version);
  }
  if (datagram.length < HEADER_SIZE) {
    return new DecodeError("truncated", `header needs ${HEADER_SIZE} bytes, have ${datagram.length}`);
  }
  const type = r.u8("type");
  const flags = r.u8("flags");
  const reserved = (r.u8("reserved") << 16) | r.u16("reserved");
  const connectionId = r.u32("connection id");
  const packetNumber = r.u64("packet number");
  if (r.error) return r.error;
  if (!isPacketType(type)) return new DecodeError("unknown-type", `packet type ${type}`);
  if (flags !== 0) return new DecodeError("bad-value", `flags 0x${flags.toString(16)}`);
  if (reserved !== 0) return new DecodeError("bad-value", "reserved header bytes are not zero");
  return { type, connectionId, packetNumber };
}
