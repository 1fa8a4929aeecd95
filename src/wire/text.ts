/** Short human-readable strings on the wire (close reasons): UTF-8, bounded, never split mid-character. */
const encoder = new TextEncoder();
// Non-fatal: a malformed reason from a peer becomes U+FFFD instead of an exception on the receive path.
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Longest close reason in bytes. */
export const MAX_REASON_BYTES = 255;

/** UTF-8 bytes of `s`, cut at a code point boundary so that they fit in `max` bytes. */
export function encodeBoundedText(s: string, max: number): Uint8Array {
  const bytes = encoder.encode(s);
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back up over continuation bytes (10xxxxxx) so the cut lands on the start of a character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

// Control characters (newlines above all) would let a peer forge extra lines in our log.
const CONTROL = /\p{Cc}/gu;

export function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes).replace(CONTROL, "\uFFFD");
}
