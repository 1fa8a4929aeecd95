/**
 * The no-key SecurityProvider: no proofs, no encryption, but every DATA packet still carries an 8-byte
 * XXH64 of header and payload. Without a key an attacker on the path can forge packets anyway; the
 * check is there because UDP on loopback carries no checksum and test relays flip bits, and a corrupted
 * byte must never reach a file. XXH64 (WebAssembly) costs ~3 µs per 32 KB packet in one pass, less than half of CRC-32 here.
 */
import xxhash from "xxhash-wasm";
import type { PacketProtection, SecurityProvider } from "./types.js";

const { create64, h64Raw } = await xxhash();

const TAG_SIZE = 8;
const EMPTY = new Uint8Array(0);

function tagOf(header: Uint8Array, parts: readonly Uint8Array[]): bigint {
  if (parts.length === 1) return tagOfPayload(header, parts[0]!);
  const h = create64().update(header);
  for (const part of parts) h.update(part);
  return h.digest();
}

/**
 * XXH64 of header ‖ payload. When they are adjacent in memory (a received datagram, or one the
 * connection gathered before sealing) that is one pass over one range, without a streaming state.
 */
function tagOfPayload(header: Uint8Array, payload: Uint8Array): bigint {
  if (header.buffer === payload.buffer && header.byteOffset + header.length === payload.byteOffset) {
    return h64Raw(new Uint8Array(header.buffer, header.byteOffset, header.length + payload.length));
  }
  return create64().update(header).update(payload).digest();
}

function tagBytes(tag: bigint): Uint8Array {
  // A slice of Node's shared buffer pool: no ArrayBuffer per packet.
  const out = Buffer.allocUnsafe(TAG_SIZE);
  out.writeBigUInt64BE(tag);
  return out;
}

const checksumProtection: PacketProtection = {
  overhead: TAG_SIZE,
  seal(header, _packetNumber, payload) {
    return [...payload, tagBytes(tagOf(header, payload))];
  },
  open(header, _packetNumber, sealed) {
    if (sealed.length < TAG_SIZE) return null;
    const end = sealed.length - TAG_SIZE;
    const payload = sealed.subarray(0, end);
    const expected = new DataView(sealed.buffer, sealed.byteOffset + end, TAG_SIZE).getBigUint64(0);
    return tagOfPayload(header, payload) === expected ? payload : null;
  },
  trailer(header, _packetNumber, parts) {
    return tagBytes(tagOf(header, parts));
  },
};

export const plaintextSecurity: SecurityProvider = {
  encrypted: false,
  prove: () => EMPTY,
  verify: (_role, _transcript, proof) => proof.length === 0,
  protect: () => checksumProtection,
};
