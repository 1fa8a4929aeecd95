/**
 * Decoding never throws: every codec returns either its value or a `DecodeError`, so a hostile or
 * corrupted datagram costs one `instanceof` check on the receive path instead of an exception unwind.
 * `DecodeError` deliberately does not extend `Error`: capturing a stack trace per rejected datagram
 * would make a flood of garbage expensive.
 */
export type DecodeErrorKind =
  /** Fewer bytes than the next field needs. */
  | "truncated"
  /** The datagram or a field exceeds a protocol bound. */
  | "oversized"
  | "bad-magic"
  /** Well-formed magic but another protocol version: the endpoint logs it distinctly. */
  | "unknown-version"
  | "unknown-type"
  | "unknown-frame"
  /** A length or count that contradicts the bytes present or the fields around it. */
  | "bad-length"
  /** A field outside its domain (non-zero reserved bits, zero connection id, ...). */
  | "bad-value"
  /** The CRC-32 trailer of a handshake or close packet does not match. */
  | "checksum";

export class DecodeError {
  constructor(
    readonly kind: DecodeErrorKind,
    readonly message: string,
    /** The peer's protocol version, set only for kind "unknown-version". */
    readonly version?: number,
  ) {}
}

export function isDecodeError(value: unknown): value is DecodeError {
  return value instanceof DecodeError;
}
