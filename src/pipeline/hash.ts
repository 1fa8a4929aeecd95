/**
 * xxh64 (block hashes) via xxhash-wasm, shared by the main thread (verifying received blocks) and the
 * workers. The wasm module instantiates asynchronously, hence initHasher() before first use.
 */
import xxhash, { type XXHashAPI } from "xxhash-wasm";

let api: XXHashAPI | undefined;

export async function initHasher(): Promise<void> {
  api ??= await xxhash();
}

function hasher(): XXHashAPI {
  if (api === undefined) throw new Error("initHasher() must complete before hashing");
  return api;
}

export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}

/** xxh64 (seed 0) of data as 16 lowercase hex chars. */
export function xxh64Hex(data: Uint8Array): string {
  return hex64(hasher().h64Raw(data));
}

/** Incremental xxh64 for blocks read in pieces. */
export function xxh64Stream(): { update(data: Uint8Array): void; digestHex(): string } {
  const state = hasher().create64();
  return {
    update(data) {
      state.update(data);
    },
    digestHex: () => hex64(state.digest()),
  };
}
