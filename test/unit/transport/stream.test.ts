import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MAX_MESSAGE, STREAM_WINDOW } from "../../../src/transport/flow-control.js";
import { MessageAssembler } from "../../../src/transport/message-assembler.js";
import { StreamReceiver } from "../../../src/transport/stream-receiver.js";
import { type StreamPick, StreamSender } from "../../../src/transport/stream-sender.js";
import { streamHeaderSize } from "../../../src/wire/frames.js";

const pick = (): StreamPick => ({ offset: 0, length: 0, retransmit: false });

function bytesOf(sender: StreamSender, p: StreamPick): Uint8Array {
  const out = new Uint8Array(p.length + 2).fill(0xee);
  sender.copy(p.offset, p.length, out, 1);
  assert.equal(out[0], 0xee);
  assert.equal(out[p.length + 1], 0xee);
  return out.subarray(1, p.length + 1);
}

test("messages become length-prefixed stream bytes, sliced to fit the room", () => {
  const s = new StreamSender();
  s.write(Uint8Array.from([1, 2, 3]));
  s.write(new Uint8Array(2000).fill(9));
  const p = pick();
  assert.ok(s.next(10, p));
  assert.equal(p.offset, 0);
  assert.equal(p.length + streamHeaderSize(p.offset, p.length), 10);
  assert.deepEqual([...bytesOf(s, p)], [0, 0, 0, 3, 1, 2, 3, 0].slice(0, p.length));
  const frames: Uint8Array[] = [bytesOf(s, p)];
  while (s.next(700, p)) frames.push(bytesOf(s, p));
  const all = Buffer.concat(frames);
  assert.equal(all.length, 4 + 3 + 4 + 2000);
  assert.equal(all.readUInt32BE(7), 2000);
  assert.ok(all.subarray(11).every((b) => b === 9));
  assert.equal(s.hasData(), false);
});

test("lost ranges are resent before new bytes, and acknowledged ones are not", () => {
  const s = new StreamSender();
  s.write(new Uint8Array(100));
  const p = pick();
  s.next(20, p);
  const first = { offset: p.offset, length: p.length };
  s.next(20, p);
  const second = { offset: p.offset, length: p.length };
  s.onAcked(second.offset, second.length);
  s.onLost(first.offset, first.length);
  s.onLost(second.offset, second.length);
  assert.ok(s.next(1000, p));
  assert.equal(p.retransmit, true);
  assert.deepEqual({ offset: p.offset, length: p.length }, first);
  assert.ok(s.next(1000, p));
  assert.equal(p.retransmit, false);
  assert.equal(p.offset, second.offset + second.length);
});

test("new bytes stop at the peer's credit", () => {
  const s = new StreamSender();
  s.write(new Uint8Array(STREAM_WINDOW + 100));
  const p = pick();
  let sent = 0;
  while (s.next(60_000, p)) sent += p.length;
  assert.equal(sent, STREAM_WINDOW);
  s.limit = STREAM_WINDOW + 1000;
  assert.ok(s.next(60_000, p));
  assert.equal(p.length, 104);
});

test("acknowledged chunks are released", () => {
  const s = new StreamSender();
  for (let i = 0; i < 10; i++) s.write(new Uint8Array(5000));
  const p = pick();
  while (s.next(3000, p)) s.onAcked(p.offset, p.length);
  assert.equal(s.unacked, 0);
});

test("oversized messages are refused at the API", () => {
  const s = new StreamSender();
  assert.throws(() => s.write({ length: MAX_MESSAGE + 1 } as Uint8Array), RangeError);
});

/** Cuts messages into stream frames the way a connection would, with varying packet room. */
function framesFor(messages: Uint8Array[], rooms: number[]): { offset: number; data: Uint8Array }[] {
  const s = new StreamSender();
  for (const m of messages) s.write(m);
  const out: { offset: number; data: Uint8Array }[] = [];
  const p = pick();
  let i = 0;
  while (s.next(rooms[i++ % rooms.length]!, p)) out.push({ offset: p.offset, data: bytesOf(s, p) });
  return out;
}

test("reordered, duplicated and overlapping frames deliver every message once, in order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 8, max: 1500 }), { minLength: 1, maxLength: 5 }),
      fc.integer(),
      (messages, rooms, seed) => {
        const frames = framesFor(messages, rooms);
        // Duplicates, plus frames re-cut at other boundaries (a retransmission packs differently).
        const extra = frames.flatMap((f) =>
          f.data.length > 3
            ? [f, { offset: f.offset + 1, data: f.data.subarray(1, f.data.length - 1) }]
            : [f],
        );
        const all = [...frames, ...extra];
        let state = seed;
        for (let i = all.length - 1; i > 0; i--) {
          state = (Math.imul(state, 1103515245) + 12345) | 0;
          const j = (state >>> 0) % (i + 1);
          [all[i], all[j]] = [all[j]!, all[i]!];
        }
        const got: Uint8Array[] = [];
        const r = new StreamReceiver((m) => got.push(Uint8Array.from(m)));
        for (const f of all) assert.equal(r.onData(f.offset, f.data), "ok");
        assert.deepEqual(got, messages);
      },
    ),
    { numRuns: 300 },
  );
});

test("data beyond the announced credit is a violation; credit grows as bytes are consumed", () => {
  const r = new StreamReceiver(() => {});
  assert.equal(r.check(STREAM_WINDOW - 1, 2), "violation");
  assert.equal(r.onData(STREAM_WINDOW - 1, new Uint8Array(2)), "violation");
  assert.equal(r.creditUpdate(), -1);
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, 4 * 1024 * 1024);
  r.onData(0, prefix);
  r.onData(4, new Uint8Array(3 * 1024 * 1024));
  assert.equal(r.creditUpdate(), 4 + 3 * 1024 * 1024 + STREAM_WINDOW);
  assert.equal(r.limit, 4 + 3 * 1024 * 1024 + STREAM_WINDOW);
});

test("a length prefix above the message limit is a violation", () => {
  const r = new StreamReceiver(() => {});
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, MAX_MESSAGE + 1);
  assert.equal(r.onData(0, prefix), "violation");
});

test("the assembler handles prefixes split across pushes and zero-length messages", () => {
  const got: number[][] = [];
  const a = new MessageAssembler((m) => got.push([...m]));
  const bytes = [0, 0, 0, 0, 0, 0, 0, 2, 7, 8, 0, 0, 0, 1, 5];
  for (const b of bytes) assert.ok(a.push(Uint8Array.from([b])));
  assert.deepEqual(got, [[], [7, 8], [5]]);
});
