/** Messages between PrefixDigests (main thread) and workers/digest-worker.ts. */
export type DigestRequest =
  | { op: "open"; id: number; path: string }
  /** Hash the file up to `upTo` bytes; "finish" then replies with the digest of exactly that much. */
  | { op: "advance" | "finish"; id: number; upTo: number }
  | { op: "abort"; id: number };

/** digest: SHA-256 hex, or null when the file could not be opened or was shorter than promised. */
export interface DigestReply {
  id: number;
  digest: string | null;
}
