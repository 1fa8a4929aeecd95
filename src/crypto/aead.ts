/**
 * ChaCha20-Poly1305 (RFC 8439) behind one interface, with two interchangeable backends: OpenSSL via
 * node:crypto (fast, the default) and @noble/ciphers (pure JS, the reference the native one is tested
 * against). A 12-byte nonce selects ChaCha20-Poly1305, a 24-byte nonce XChaCha20-Poly1305 (safe with
 * random nonces). Both backends produce byte-identical output: `ciphertext ‖ 16-byte tag`. Plaintext and
 * sealed bytes both come in parts: the transport passes a packet's frame headers and the bulk data where
 * they lie (no copy of the data into a packet buffer first), and sends the ciphertext parts and the tag
 * gathered behind the packet header (joining them would cost a copy and a fresh 64 KB buffer per packet).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import { chacha20poly1305, hchacha, xchacha20poly1305 } from "@noble/ciphers/chacha.js";

export const AEAD_KEY_LENGTH = 32;
export const AEAD_TAG_LENGTH = 16;

export type AeadBackend = "native" | "noble";
export const AEAD_BACKENDS: readonly AeadBackend[] = ["native", "noble"];

export interface Aead {
  readonly backend: AeadBackend;
  /**
   * Seals the concatenation of `plaintext`. Returns the sealed bytes as consecutive parts: the
   * ciphertext (in one or more parts), then the tag. Throws RangeError on a nonce that is neither 12
   * nor 24 bytes.
   */
  seal(nonce: Uint8Array, plaintext: readonly Uint8Array[], aad: Uint8Array): Uint8Array[];
  /** Returns the plaintext, or null if `sealed` does not authenticate under this key, nonce and AAD. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null;
}

export function createAead(backend: AeadBackend, key: Uint8Array): Aead {
  if (key.length !== AEAD_KEY_LENGTH) throw new RangeError(`AEAD key must be ${AEAD_KEY_LENGTH} bytes`);
  return backend === "native" ? new NativeAead(key) : new NobleAead(key);
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== 12 && nonce.length !== 24) {
    throw new RangeError(`AEAD nonce must be 12 or 24 bytes, got ${nonce.length}`);
  }
}

const NATIVE_ALGORITHM = "chacha20-poly1305";
const NATIVE_OPTIONS = { authTagLength: AEAD_TAG_LENGTH };

class NativeAead implements Aead {
  readonly backend = "native";
  /** The key as the word view noble's hchacha takes: XChaCha derives a subkey from it per message. */
  private readonly keyWords: Uint32Array;
  /** Imported once: a KeyObject saves OpenSSL a key import on every packet. */
  private readonly key: KeyObject;

  constructor(key: Uint8Array) {
    this.keyWords = new Uint32Array(Uint8Array.from(key).buffer);
    this.key = createSecretKey(key);
  }

  seal(nonce: Uint8Array, plaintext: readonly Uint8Array[], aad: Uint8Array): Uint8Array[] {
    checkNonce(nonce);
    const cipher = createCipheriv(NATIVE_ALGORITHM, this.keyFor(nonce), chachaNonce(nonce), NATIVE_OPTIONS);
    let length = 0;
    for (const part of plaintext) length += part.length;
    cipher.setAAD(aad, { plaintextLength: length });
    // A stream cipher: one update per part gives the same bytes as one over their concatenation.
    const sealed: Uint8Array[] = [];
    for (const part of plaintext) if (part.length > 0) sealed.push(cipher.update(part));
    cipher.final();
    sealed.push(cipher.getAuthTag());
    return sealed;
  }

  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
    checkNonce(nonce);
    const length = sealed.length - AEAD_TAG_LENGTH;
    if (length < 0) return null;
    const decipher = createDecipheriv(
      NATIVE_ALGORITHM,
      this.keyFor(nonce),
      chachaNonce(nonce),
      NATIVE_OPTIONS,
    );
    decipher.setAAD(aad, { plaintextLength: length });
    decipher.setAuthTag(sealed.subarray(length));
    const plaintext = decipher.update(sealed.subarray(0, length));
    try {
      decipher.final();
    } catch {
      return null;
    }
    return plaintext;
  }

  private keyFor(nonce: Uint8Array): KeyObject | Uint8Array {
    return nonce.length === 12 ? this.key : xchachaSubkey(this.keyWords, nonce);
  }
}

class NobleAead implements Aead {
  readonly backend = "noble";
  private readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    this.key = Uint8Array.from(key);
  }

  seal(nonce: Uint8Array, plaintext: readonly Uint8Array[], aad: Uint8Array): Uint8Array[] {
    checkNonce(nonce);
    const cipher = nonce.length === 12 ? chacha20poly1305 : xchacha20poly1305;
    const joined = plaintext.length === 1 ? plaintext[0]! : Buffer.concat(plaintext);
    const sealed = cipher(this.key, nonce, aad).encrypt(joined);
    return [sealed.subarray(0, joined.length), sealed.subarray(joined.length)];
  }

  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
    checkNonce(nonce);
    const cipher = nonce.length === 12 ? chacha20poly1305 : xchacha20poly1305;
    try {
      return cipher(this.key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  }
}

/** "expand 32-byte k" as the byte view noble's hchacha expects (it byte-swaps on big-endian hosts). */
const SIGMA = new Uint32Array(Uint8Array.from(Buffer.from("expand 32-byte k", "latin1")).buffer);

/** XChaCha20 step 1: HChaCha20(key, nonce[0..16]) gives the per-message ChaCha20 key. */
function xchachaSubkey(keyWords: Uint32Array, nonce: Uint8Array): Uint8Array {
  const nonceWords = new Uint32Array(Uint8Array.from(nonce.subarray(0, 16)).buffer);
  const out = new Uint32Array(8);
  hchacha(SIGMA, keyWords, nonceWords, out);
  return new Uint8Array(out.buffer);
}

/** XChaCha20 step 2: the last 8 nonce bytes, behind 4 zero bytes, are the ChaCha20 nonce. */
function chachaNonce(nonce: Uint8Array): Uint8Array {
  if (nonce.length === 12) return nonce;
  const n = new Uint8Array(12);
  n.set(nonce.subarray(16), 4);
  return n;
}
