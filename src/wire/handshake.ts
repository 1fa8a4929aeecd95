/**
 * Bodies of the unencrypted control packets: INIT, INIT_ACK (the same layout, one per side of the
 * handshake), CONFIRM and CLOSE. Each of these datagrams ends with a CRC-32 over header and body: they
 * travel before any packet protection exists, and a bit flipped in a device id or packet size must not
 * be accepted silently. The CRC detects corruption only; authenticity comes from the proofs.
 *
 * INIT / INIT_ACK body:
 *   deviceId 16 | sessionId 16 | nonce 32 | u32 sender's connection id | u32 capabilities
 *   u8 flags (bit 0: encrypted) | u16 max packet size | u16 proof length | proof | u32 crc32
 * CONFIRM body: u16 proof length | proof | u32 crc32
 * CLOSE body:   u8 reason length | reason (UTF-8) | u32 crc32
 */
import { crc32 } from "node:zlib";
import { ByteReader, readU32, writeU8, writeU16, writeU32 } from "./bytes.js";
import { DecodeError } from "./errors.js";
import { HEADER_SIZE, MAX_DATAGRAM, PacketType, writeHeader } from "./header.js";
import { decodeText, encodeBoundedText, MAX_REASON_BYTES } from "./text.js";

export const DEVICE_ID_SIZE = 16;
export const SESSION_ID_SIZE = 16;
export const NONCE_SIZE = 32;
export const MAX_PROOF_SIZE = 256;
/** Smallest packet size a peer may announce: room for a header, an ACK and useful data. */
export const MIN_PACKET_SIZE = 1200;
const CHECKSUM_SIZE = 4;
const HANDSHAKE_FIXED_SIZE = DEVICE_ID_SIZE + SESSION_ID_SIZE + NONCE_SIZE + 4 + 4 + 1 + 2;
const FLAG_ENCRYPTED = 0x01;

export interface HandshakeBody {
  deviceId: Uint8Array;
  /** Random per process: a new value tells the peer we restarted. */
  sessionId: Uint8Array;
  nonce: Uint8Array;
  /** The id the sender wants to see as destination connection id in packets sent to it. */
  connectionId: number;
  /** Bitmask of optional features; none are defined yet, unknown bits are ignored. */
  capabilities: number;
  encrypted: boolean;
  /** Largest datagram the sender accepts. */
  maxPacketSize: number;
  proof: Uint8Array;
}

type HandshakeType = typeof PacketType.Init | typeof PacketType.InitAck;

/** The body without proof and checksum: the part of each handshake message that goes into the transcript. */
export function encodeHandshakeFields(body: HandshakeBody): Uint8Array {
  const out = new Uint8Array(HANDSHAKE_FIXED_SIZE);
  writeHandshakeFields(out, 0, body);
  return out;
}

function writeHandshakeFields(out: Uint8Array, offset: number, body: HandshakeBody): number {
  checkSize(body.deviceId, DEVICE_ID_SIZE, "deviceId");
  checkSize(body.sessionId, SESSION_ID_SIZE, "sessionId");
  checkSize(body.nonce, NONCE_SIZE, "nonce");
  let p = offset;
  out.set(body.deviceId, p);
  p += DEVICE_ID_SIZE;
  out.set(body.sessionId, p);
  p += SESSION_ID_SIZE;
  out.set(body.nonce, p);
  p += NONCE_SIZE;
  p = writeU32(out, p, body.connectionId);
  p = writeU32(out, p, body.capabilities);
  p = writeU8(out, p, body.encrypted ? FLAG_ENCRYPTED : 0);
  return writeU16(out, p, body.maxPacketSize);
}

export function encodeHandshake(
  type: HandshakeType,
  connectionId: number,
  packetNumber: number,
  body: HandshakeBody,
): Uint8Array {
  if (body.proof.length > MAX_PROOF_SIZE) throw new RangeError("proof too long");
  const out = new Uint8Array(HEADER_SIZE + HANDSHAKE_FIXED_SIZE + 2 + body.proof.length + CHECKSUM_SIZE);
  let p = writeHeader(out, 0, { type, connectionId, packetNumber });
  p = writeHandshakeFields(out, p, body);
  p = writeU16(out, p, body.proof.length);
  out.set(body.proof, p);
  return sealChecksum(out);
}

/** Decodes the body of an INIT or INIT_ACK datagram whose header has already been decoded. */
export function decodeHandshake(datagram: Uint8Array): HandshakeBody | DecodeError {
  const r = checkedBody(datagram);
  if (r instanceof DecodeError) return r;
  const deviceId = r.copy(DEVICE_ID_SIZE, "deviceId");
  const sessionId = r.copy(SESSION_ID_SIZE, "sessionId");
  const nonce = r.copy(NONCE_SIZE, "nonce");
  const connectionId = r.u32("connection id");
  const capabilities = r.u32("capabilities");
  const flags = r.u8("flags");
  const maxPacketSize = r.u16("max packet size");
  const proofLength = r.u16("proof length");
  if (r.error) return r.error;
  if (connectionId === 0) return new DecodeError("bad-value", "connection id 0");
  if ((flags & ~FLAG_ENCRYPTED) !== 0)
    return new DecodeError("bad-value", `handshake flags 0x${flags.toString(16)}`);
  if (maxPacketSize < MIN_PACKET_SIZE || maxPacketSize > MAX_DATAGRAM) {
    return new DecodeError("bad-value", `max packet size ${maxPacketSize}`);
  }
  if (proofLength > MAX_PROOF_SIZE) return new DecodeError("oversized", `proof of ${proofLength} bytes`);
  const proof = r.copy(proofLength, "proof");
  if (r.error) return r.error;
  if (r.remaining !== 0) return new DecodeError("bad-length", `${r.remaining} trailing bytes`);
  return {
    deviceId,
    sessionId,
    nonce,
    connectionId,
    capabilities,
    encrypted: (flags & FLAG_ENCRYPTED) !== 0,
    maxPacketSize,
    proof,
  };
}

export function encodeConfirm(connectionId: number, packetNumber: number, proof: Uint8Array): Uint8Array {
  if (proof.length > MAX_PROOF_SIZE) throw new RangeError("proof too long");
  return encodeSingleField(PacketType.Confirm, connectionId, packetNumber, 2, proof);
}

/** Returns the initiator's proof carried by a CONFIRM datagram. */
export function decodeConfirm(datagram: Uint8Array): Uint8Array | DecodeError {
  return decodeSingleField(datagram, 2, "proof", MAX_PROOF_SIZE);
}

export function encodeClosePacket(connectionId: number, reason: string): Uint8Array {
  return encodeSingleField(PacketType.Close, connectionId, 0, 1, encodeBoundedText(reason, MAX_REASON_BYTES));
}

/** Returns the reason carried by a CLOSE datagram. */
export function decodeClosePacket(datagram: Uint8Array): string | DecodeError {
  const text = decodeSingleField(datagram, 1, "reason", 0xff);
  return text instanceof DecodeError ? text : decodeText(text);
}

/** CONFIRM and CLOSE bodies: one field behind its length, a u8 or a u16 (`lengthSize` bytes). */
function encodeSingleField(
  type: typeof PacketType.Confirm | typeof PacketType.Close,
  connectionId: number,
  packetNumber: number,
  lengthSize: 1 | 2,
  field: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + lengthSize + field.length + CHECKSUM_SIZE);
  const p = writeHeader(out, 0, { type, connectionId, packetNumber });
  out.set(field, lengthSize === 1 ? writeU8(out, p, field.length) : writeU16(out, p, field.length));
  return sealChecksum(out);
}

function decodeSingleField(
  datagram: Uint8Array,
  lengthSize: 1 | 2,
  what: string,
  maxLength: number,
): Uint8Array | DecodeError {
  const r = checkedBody(datagram);
  if (r instanceof DecodeError) return r;
  const length = lengthSize === 1 ? r.u8(`${what} length`) : r.u16(`${what} length`);
  if (r.error) return r.error;
  if (length > maxLength) return new DecodeError("oversized", `${what} of ${length} bytes`);
  const field = r.copy(length, what);
  if (r.error) return r.error;
  if (r.remaining !== 0) return new DecodeError("bad-length", `${r.remaining} trailing bytes`);
  return field;
}

/**
 * Vets a header that names another protocol version (`error`, from decodeHeader) against the datagram's
 * CRC-32 trailer. A peer of another version first shows itself by its INIT, and control packets keep the
 * trailer across versions, so a version worth reporting comes in an intact datagram. A foreign version
 * byte in a datagram whose trailer does not match is damage (one flipped bit turns version 1 into 33):
 * it is returned as a checksum error, to be dropped as corrupt rather than reported as a peer's version.
 */
export function vetForeignVersion(datagram: Uint8Array, error: DecodeError): DecodeError {
  if (error.kind !== "unknown-version" || checksumMatches(datagram)) return error;
  return new DecodeError("checksum", `corrupt datagram: reads as protocol version ${error.version}`);
}

function checksumMatches(datagram: Uint8Array): boolean {
  const end = datagram.length - CHECKSUM_SIZE;
  return end >= 0 && crc32(datagram.subarray(0, end)) === readU32(datagram, end);
}

/** Verifies the CRC trailer and returns a reader over the body between header and trailer. */
function checkedBody(datagram: Uint8Array): ByteReader | DecodeError {
  if (datagram.length < HEADER_SIZE + CHECKSUM_SIZE) {
    return new DecodeError("truncated", "control packet shorter than header and checksum");
  }
  if (!checksumMatches(datagram)) return new DecodeError("checksum", "control packet checksum mismatch");
  return new ByteReader(datagram, HEADER_SIZE, datagram.length - CHECKSUM_SIZE);
}

function sealChecksum(datagram: Uint8Array): Uint8Array {
  const end = datagram.length - CHECKSUM_SIZE;
  writeU32(datagram, end, crc32(datagram.subarray(0, end)));
  return datagram;
}

function checkSize(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.length !== size) throw new RangeError(`${what} must be ${size} bytes`);
}
