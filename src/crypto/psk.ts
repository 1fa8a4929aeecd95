/**
 * The pre-shared-key SecurityProvider: during the transport's handshake each side proves it holds the
 * master key (an HMAC over the transcript, never the key itself), then both derive fresh per-direction
 * session keys from the transcript and seal every DATA payload with ChaCha20-Poly1305.
 * Byte-exact construction: docs/SECURITY.md.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import type { HandshakeRole, PacketProtection, SecurityProvider } from "../transport/types.js";
import { AEAD_KEY_LENGTH, AEAD_TAG_LENGTH, type Aead, type AeadBackend, createAead } from "./aead.js";
import { MASTER_KEY_LENGTH } from "./key.js";

/** HMAC-SHA256 output. */
export const PROOF_LENGTH = 32;

const NO_SALT = new Uint8Array(0);
const PROOF_KEY_INFO = "left v1 handshake proof key";
// Distinct per role, so a proof cannot be reflected back to the side that made it.
const PROOF_LABEL: Record<HandshakeRole, string> = {
  initiator: "left v1 initiator proof",
  responder: "left v1 responder proof",
};
/** Keyed by the sending side: each direction has its own key, so the two never share a nonce space. */
const SESSION_KEY_INFO: Record<HandshakeRole, string> = {
  initiator: "left v1 initiator->responder",
  responder: "left v1 responder->initiator",
};

/**
 * Roles: `prove(role)` and `verify(role)` take the role of the side that MADE the proof, so
 * `verify(r, t, prove(r, t))` holds (the initiator checks INIT_ACK with `verify("responder", …)`);
 * `protect(role)` takes our own role.
 */
export function pskSecurity(masterKey: Uint8Array, backend: AeadBackend = "native"): SecurityProvider {
  if (masterKey.length !== MASTER_KEY_LENGTH) {
    throw new RangeError(`master key must be ${MASTER_KEY_LENGTH} bytes, got ${masterKey.length}`);
  }
  return new PskSecurity(Uint8Array.from(masterKey), backend);
}

class PskSecurity implements SecurityProvider {
  readonly encrypted = true;
  private readonly proofKey: Uint8Array;

  constructor(
    private readonly masterKey: Uint8Array,
    private readonly backend: AeadBackend,
  ) {
    this.proofKey = hkdf(masterKey, NO_SALT, PROOF_KEY_INFO);
  }

  prove(role: HandshakeRole, transcript: Uint8Array): Uint8Array {
    return createHmac("sha256", this.proofKey).update(PROOF_LABEL[role]).update(transcript).digest();
  }

  verify(role: HandshakeRole, transcript: Uint8Array, proof: Uint8Array): boolean {
    return proof.length === PROOF_LENGTH && timingSafeEqual(this.prove(role, transcript), proof);
  }

  protect(role: HandshakeRole, transcript: Uint8Array): PacketProtection {
    // Both nonces are in the transcript, so its hash makes every connection's keys fresh.
    const salt = createHash("sha256").update(transcript).digest();
    const peer: HandshakeRole = role === "initiator" ? "responder" : "initiator";
    return new PskPacketProtection(
      createAead(this.backend, hkdf(this.masterKey, salt, SESSION_KEY_INFO[role])),
      createAead(this.backend, hkdf(this.masterKey, salt, SESSION_KEY_INFO[peer])),
    );
  }
}

function hkdf(key: Uint8Array, salt: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, salt, info, AEAD_KEY_LENGTH));
}

/**
 * AEAD nonce = 4 zero bytes ‖ packet number (u64 big-endian). Unique because each direction has its own
 * key and packet numbers never repeat within a direction; seal enforces that they strictly increase.
 */
class PskPacketProtection implements PacketProtection {
  readonly overhead = AEAD_TAG_LENGTH;
  private readonly sealNonce = new Uint8Array(12);
  private readonly openNonce = new Uint8Array(12);
  private readonly sealNonceView = new DataView(this.sealNonce.buffer);
  private readonly openNonceView = new DataView(this.openNonce.buffer);
  private lastSealed = -1;

  constructor(
    private readonly sender: Aead,
    private readonly receiver: Aead,
  ) {}

  seal(header: Uint8Array, packetNumber: number, payload: readonly Uint8Array[]): readonly Uint8Array[] {
    if (!Number.isSafeInteger(packetNumber) || packetNumber <= this.lastSealed) {
      throw new RangeError(`packet number ${packetNumber} after ${this.lastSealed} would reuse a nonce`);
    }
    this.lastSealed = packetNumber;
    writePacketNumber(this.sealNonceView, packetNumber);
    return this.sender.seal(this.sealNonce, payload, header);
  }

  open(header: Uint8Array, packetNumber: number, sealed: Uint8Array): Uint8Array | null {
    if (!Number.isSafeInteger(packetNumber) || packetNumber < 0) return null;
    writePacketNumber(this.openNonceView, packetNumber);
    return this.receiver.open(this.openNonce, sealed, header);
  }
}

function writePacketNumber(nonce: DataView, packetNumber: number): void {
  nonce.setUint32(4, Math.floor(packetNumber / 2 ** 32));
  nonce.setUint32(8, packetNumber >>> 0);
}
