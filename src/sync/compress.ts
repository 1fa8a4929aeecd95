/**
 * Optional compression of block data in RESPONSEs (--compress). Brotli at quality 1: about 0.5 ns/B on
 * incompressible data, so trying costs almost nothing when it does not pay, and ≈300 MB/s on text
 * (MEASUREMENTS.md). "auto" therefore compresses only on network links slower than that, where the saved
 * bytes are worth more than the CPU. Both directions run on libuv's thread pool, off the event loop.
 */
import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, constants } from "node:zlib";
import type { Connection } from "../transport/types.js";

export type CompressMode = "auto" | "on" | "off";

/** Above this estimated bandwidth compressing costs more time than it saves. */
const AUTO_MAX_MBPS = 300;
/** Compressed data is sent only if it saves at least this fraction. */
const MIN_SAVING = 0.1;

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/**
 * "auto" never compresses towards a loopback peer: there the transfer is bound by CPU, not by the link,
 * and the bandwidth estimate says nothing about the value of saved bytes.
 */
export function shouldCompress(mode: CompressMode, conn: Connection): boolean {
  if (mode !== "auto") return mode === "on";
  if (conn.peer.startsWith("127.")) return false;
  const { bandwidthMBps } = conn.stats();
  return bandwidthMBps > 0 && bandwidthMBps < AUTO_MAX_MBPS;
}

/** The block compressed, or null when that does not save enough to be worth decompressing. */
export async function compressBlock(data: Uint8Array): Promise<Uint8Array | null> {
  const out = await compress(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 1,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.byteLength,
    },
  });
  return out.byteLength <= data.byteLength * (1 - MIN_SAVING) ? out : null;
}

/** Inflates a received block, refusing output beyond the expected size (a hostile peer's bomb). */
export async function decompressBlock(data: Uint8Array, size: number): Promise<Uint8Array | null> {
  try {
    const out = await decompress(data, { maxOutputLength: size });
    return out.byteLength === size ? out : null;
  } catch {
    return null;
  }
}
