/**
 * Builders and fast-check arbitraries for sync tests: FileInfos that satisfy the index contract.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import type { BlockInfo, FileInfo, VersionVector } from "../../../src/index/types.js";
import { chunkBuffer } from "../../../src/pipeline/chunker.js";
import { contentDigest } from "../../../src/pipeline/digest.js";
import { xxh64Hex } from "../../../src/pipeline/hash.js";
import { chunkParams } from "../../../src/pipeline/types.js";
import { decodeMessage, type Message } from "../../../src/sync/protocol.js";
import { DecodeError } from "../../../src/wire/errors.js";

export const DEV_A = "a".repeat(32);
export const DEV_B = "b".repeat(32);
export const DEV_C = "c".repeat(32);

/** The whole-file digest of a file on disk, as the daemon's pool computes it. */
export async function fileDigest(abs: string): Promise<string> {
  return contentDigest(await readFile(abs));
}

export function digestOf(tag: string): string {
  return Buffer.from(tag.padEnd(32, "-").slice(0, 32)).toString("hex");
}

export function file(path: string, version: VersionVector, over: Partial<FileInfo> = {}): FileInfo {
  const size = over.size ?? 10;
  return {
    path,
    type: "file",
    size,
    mtimeMs: 1_700_000_000_000,
    mode: 0o644,
    deleted: false,
    version,
    modifiedBy: Object.keys(version)[0] ?? DEV_A,
    sequence: 1,
    blocks: size === 0 ? [] : [{ offset: 0, size, hash: "0123456789abcdef" }],
    digest: digestOf("content"),
    target: "",
    ...over,
  };
}

export function tombstone(path: string, version: VersionVector, over: Partial<FileInfo> = {}): FileInfo {
  return file(path, version, { deleted: true, size: 0, blocks: [], digest: "", ...over });
}

export function dir(path: string, version: VersionVector, over: Partial<FileInfo> = {}): FileInfo {
  return file(path, version, { type: "dir", size: 0, blocks: [], digest: "", mode: 0o755, ...over });
}

const hexChars = "0123456789abcdef".split("");
export const hexArb = (bytes: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...hexChars), minLength: bytes * 2, maxLength: bytes * 2 });

const nameArb = fc
  .string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(..."abcXYZ019._- é€".split("")) })
  .filter((s) => s !== "." && s !== ".." && s !== ".left");
export const pathArb = fc.array(nameArb, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/"));

const versionArb = fc.dictionary(hexArb(16), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), {
  minKeys: 1,
  maxKeys: 4,
});

const blocksArb = fc.array(fc.record({ size: fc.integer({ min: 1, max: 1 << 20 }), hash: hexArb(8) }), {
  maxLength: 6,
});

/** Any entry the protocol must carry unchanged (structurally valid, not necessarily semantically). */
export const fileInfoArb: fc.Arbitrary<FileInfo> = fc
  .record({
    path: pathArb,
    type: fc.constantFrom("file", "dir", "symlink" as const),
    mtimeMs: fc.double({ min: -8e15, max: 8e15, noNaN: true }),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    deleted: fc.boolean(),
    version: versionArb,
    modifiedBy: hexArb(16),
    sequence: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    rawBlocks: blocksArb,
    digest: fc.oneof(fc.constant(""), hexArb(32)),
    target: fc.oneof(fc.constant(""), pathArb),
  })
  .map(({ rawBlocks, ...rest }) => {
    let offset = 0;
    const blocks: BlockInfo[] = rawBlocks.map((b) => {
      const block = { offset, size: b.size, hash: b.hash };
      offset += b.size;
      return block;
    });
    // fc.dictionary builds null-prototype objects; decoded versions are plain ones.
    return { ...rest, version: { ...rest.version }, size: offset, blocks };
  });

/** The FileInfo the scanner would record for bytes `data` at `path` (real blocks, real digest). */
export function describeBytes(
  path: string,
  data: Uint8Array,
  version: VersionVector,
  over: Partial<FileInfo> = {},
): FileInfo {
  const blocks = chunkBuffer(data, chunkParams(4096)).map((r) => ({
    offset: r.offset,
    size: r.size,
    hash: xxh64Hex(data.subarray(r.offset, r.offset + r.size)),
  }));
  return file(path, version, {
    size: data.byteLength,
    blocks,
    digest: contentDigest(data),
    ...over,
  });
}

/** Decodes input that must be valid. */
export function decodeOk(bytes: Uint8Array): Message {
  const m = decodeMessage(bytes);
  if (m instanceof DecodeError) assert.fail(`${m.kind}: ${m.message}`);
  return m;
}

/** Input that must be refused, with a message matching `why`. */
export function rejects(bytes: Uint8Array, why: RegExp): void {
  const m = decodeMessage(bytes);
  assert.ok(m instanceof DecodeError, "expected a DecodeError");
  assert.match(m.message, why);
}
