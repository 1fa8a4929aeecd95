import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { compressBlock, decompressBlock, shouldCompress } from "../../../src/sync/compress.js";
import { RecordingConn } from "./fakes.js";
import { DEV_A } from "./fixtures.js";

function conn(peer: string, bandwidthMBps: number): RecordingConn {
  const c = new RecordingConn(peer, DEV_A);
  c.bandwidthMBps = bandwidthMBps;
  return c;
}

describe("block compression", () => {
  it("auto compresses only towards slow non-loopback peers; on and off are absolute", () => {
    assert.equal(shouldCompress("auto", conn("10.0.0.2:22001", 50)), true);
    assert.equal(shouldCompress("auto", conn("10.0.0.2:22001", 900)), false);
    assert.equal(shouldCompress("auto", conn("127.0.0.3:22001", 50)), false);
    assert.equal(shouldCompress("on", conn("127.0.0.3:22001", 900)), true);
    assert.equal(shouldCompress("off", conn("10.0.0.2:22001", 50)), false);
  });

  it("round-trips compressible data and declines incompressible data", async () => {
    const text = Buffer.from("the same words again and again ".repeat(4000));
    const packed = await compressBlock(text);
    assert.ok(packed !== null && packed.byteLength < text.byteLength / 10);
    assert.deepEqual(Buffer.from((await decompressBlock(packed, text.byteLength))!), text);
    assert.equal(await compressBlock(randomBytes(64 * 1024)), null);
  });

  it("refuses garbage and output of the wrong size", async () => {
    const text = Buffer.from("abc".repeat(10_000));
    const packed = (await compressBlock(text))!;
    assert.equal(await decompressBlock(packed, text.byteLength + 1), null, "shorter than announced");
    assert.equal(await decompressBlock(packed, 100), null, "longer than announced");
    assert.equal(await decompressBlock(randomBytes(500), 1000), null);
  });
});
