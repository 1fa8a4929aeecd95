/**
 * Pieces of the three-way handshake that do not touch the socket (the endpoint drives the exchange):
 *
 *   initiator                                responder
 *   INIT  (dcid 0; our cid, nonce, ...)  ──▶
 *                                        ◀── INIT_ACK (dcid = initiator cid; its cid, nonce, proof)
 *   CONFIRM (dcid = responder cid, proof) ──▶ responder is up; sends a PING in DATA
 *   first authenticated DATA received      ◀── initiator is up
 *
 * The transcript both proofs cover is a label, then the INIT fields, then the INIT_ACK fields (each
 * without its proof): both nonces, connection ids, device and session ids and the packet sizes, so a
 * proof cannot be replayed into another connection and a tampered field breaks the proof.
 */
import { encodeHandshakeFields, type HandshakeBody } from "../wire/handshake.js";

const TRANSCRIPT_LABEL = new TextEncoder().encode("LEFT handshake v1");

export function transcriptOf(init: HandshakeBody, initAck: HandshakeBody): Uint8Array {
  const a = encodeHandshakeFields(init);
  const b = encodeHandshakeFields(initAck);
  const out = new Uint8Array(TRANSCRIPT_LABEL.length + a.length + b.length);
  out.set(TRANSCRIPT_LABEL, 0);
  out.set(a, TRANSCRIPT_LABEL.length);
  out.set(b, TRANSCRIPT_LABEL.length + a.length);
  return out;
}

/**
 * Orders two handshake participants by device id, then session id. When both sides dial each other at
 * once, the lower one stays initiator and ignores the other's INIT, the higher one abandons its own dial
 * and answers: exactly one connection results. 0 means the same process (we dialed ourselves).
 */
export function compareParticipants(
  ourDevice: Uint8Array,
  ourSession: Uint8Array,
  theirDevice: Uint8Array,
  theirSession: Uint8Array,
): number {
  return compareBytes(ourDevice, theirDevice) || compareBytes(ourSession, theirSession);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
