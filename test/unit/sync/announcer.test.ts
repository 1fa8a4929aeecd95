import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { IndexDb } from "../../../src/index/db.js";
import type { FileInfo } from "../../../src/index/types.js";
import { Announcer } from "../../../src/sync/announcer.js";
import { type AnnouncedEntry, resolveEntry } from "../../../src/sync/block-delta.js";
import { decodeMessage, type Index, MessageType } from "../../../src/sync/protocol.js";
import { FakeClock } from "../../../src/util/clock.js";
import { memoryLogger } from "../../../src/util/log.js";
import { DecodeError } from "../../../src/wire/errors.js";
import { block, withOffsets } from "./delta-fixtures.js";
import { RecordingConn } from "./fakes.js";
import { DEV_B, digestOf, file } from "./fixtures.js";

const family = (n: number, seed: number) => Array.from({ length: n }, (_, i) => block(i, seed));

function bigFile(path: string, seed: number, over: Partial<FileInfo> = {}): Omit<FileInfo, "sequence"> {
  const blocks = withOffsets(family(64, seed));
  return file(path, { [DEV_B]: 1 }, { size: 64 * 4096, blocks, digest: digestOf(`${path}${seed}`), ...over });
}

/** The INDEX messages sent on `conn` since `from`. */
function sent(conn: RecordingConn, from = 0): Index[] {
  return conn.messages.slice(from).map((bytes) => {
    const m = decodeMessage(bytes);
    if (m instanceof DecodeError || m.type !== MessageType.Index) assert.fail("expected an INDEX");
    return m;
  });
}

const forms = (messages: Index[]) =>
  messages.flatMap((m) =>
    m.files.map((f: AnnouncedEntry) => `${f.path}:${f.blocks === null ? "delta" : "full"}`),
  );

describe("Announcer", async () => {
  const root = await mkdtemp(join(tmpdir(), "left-announcer-"));
  const db = IndexDb.open(root);
  const clock = new FakeClock();
  const announcer = new Announcer(db, clock, memoryLogger());
  after(async () => {
    announcer.close();
    db.close();
    await rm(root, { recursive: true, force: true });
  });

  // The peer announced its versions of big.bin and other.bin (sequences 10 and 11 on its side).
  const theirs = { ...bigFile("big.bin", 1), sequence: 10 };
  db.putRemote(DEV_B, [theirs, { ...bigFile("other.bin", 2), sequence: 11 }]);
  // Ours: big.bin with one block changed, other.bin unrelated, new.bin unknown to the peer, a small file.
  const changed = family(64, 1);
  changed[30] = block(30, 9);
  const mine = db.putLocal({ ...bigFile("big.bin", 1), blocks: withOffsets(changed) }, null);
  db.putLocal(bigFile("other.bin", 3), null);
  db.putLocal(bigFile("new.bin", 4), null);
  db.putLocal(file("small.txt", { [DEV_B]: 1 }), null);

  it("sends a delta against the entry the peer announced, where that is known and smaller", () => {
    const conn = new RecordingConn("b:1", DEV_B);
    announcer.hello(conn, 0, false);
    const [reply, ...rest] = sent(conn);
    assert.equal(rest.length, 0);
    assert.equal(reply!.reply, true);
    assert.equal(reply!.complete, true);
    assert.deepEqual(forms([reply!]), ["big.bin:delta", "other.bin:full", "new.bin:full", "small.txt:full"]);
    const delta = reply!.files[0]!;
    assert.ok(delta.blocks === null);
    assert.deepEqual(
      delta.delta.ops.map((op) => op.op),
      ["copy", "literal", "copy"],
    );
    // The peer resolves it against its own entry into exactly our list.
    assert.deepEqual(resolveEntry(delta, theirs), mine);
  });

  it("sends full lists after a HELLO asking for them, until the next HELLO", () => {
    const conn = new RecordingConn("b:2", DEV_B);
    announcer.hello(conn, 0, true);
    assert.deepEqual(forms(sent(conn)), ["big.bin:full", "other.bin:full", "new.bin:full", "small.txt:full"]);
    // A later change, announced as usual: still in full, and not marked as a reply.
    const again = [...changed];
    again[40] = block(40, 9);
    db.putLocal({ ...bigFile("big.bin", 1), blocks: withOffsets(again) }, null);
    const before = conn.messages.length;
    announcer.changed();
    clock.advance(100);
    const [change] = sent(conn, before);
    assert.deepEqual(forms([change!]), ["big.bin:full"]);
    assert.equal(change!.reply, false);
    announcer.hello(conn, db.localSequence() - 1, false);
    assert.deepEqual(forms(sent(conn, before + 1)), ["big.bin:delta"]);
  });
});
