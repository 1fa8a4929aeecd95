/**
 * Contract of the piscina block pipeline (workers/): all CPU-heavy per-block work happens there, the main
 * thread only schedules it.
 */
import type { BlockInfo } from "../index/types.js";

/** Content-defined chunking parameters, derived from --block-size (the average). */
export interface ChunkParams {
  min: number;
  avg: number;
  max: number;
}

export function chunkParams(blockSize: number): ChunkParams {
  return { min: Math.max(64, blockSize >> 2), avg: blockSize, max: blockSize * 4 };
}

export interface HashedFile {
  size: number;
  blocks: BlockInfo[];
  /** The whole-file digest (digest.ts), lowercase hex. */
  digest: string;
}
