import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BulkReceiver } from "../../../src/transport/bulk-receiver.js";
import { type BulkPick, BulkSender } from "../../../src/transport/bulk-sender.js";
import { BULK_MESSAGE_CHARGE, BULK_WINDOW } from "../../../src/transport/flow-control.js";
import { MAX_BULK_MESSAGE } from "../../../src/wire/frames.js";

const pick = (): BulkPick => ({ message: null, offset: 0, length: 0, retransmit: false });

interface Fragment {
  id: number;
  total: number;
  offset: number;
  data: Uint8Array;
}

function fragmentsOf(sender: BulkSender, rooms: number[]): Fragment[] {
  const out: Fragment[] = [];
  const p = pick();
  let i = 0;
  while (sender.next(rooms[i++ % rooms.length]!, p)) {
    const m = p.message!;
    out.push({
      id: m.id,
      total: m.data.length,
      offset: p.offset,
      data: m.data.subarray(p.offset, p.offset + p.length),
    });
  }
  return out;
}

test("fragments in any order, with duplicates, deliver each message exactly once", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 5000 }), { minLength: 1, maxLength: 10 }),
      fc.array(fc.integer({ min: 40, max: 1500 }), { minLength: 1, maxLength: 4 }),
      fc.integer(),
      (messages, rooms, seed) => {
        const sender = new BulkSender();
        for (const m of messages) sender.enqueue(m);
        const fragments = fragmentsOf(sender, rooms);
        const all = [...fragments, ...fragments.filter((_, i) => i % 3 === 0)];
        let state = seed;
        for (let i = all.length - 1; i > 0; i--) {
          state = (Math.imul(state, 1103515245) + 12345) | 0;
          const j = (state >>> 0) % (i + 1);
          [all[i], all[j]] = [all[j]!, all[i]!];
        }
        const got: Uint8Array[] = [];
        const receiver = new BulkReceiver((m) => got.push(Uint8Array.from(m)));
        for (const f of all) assert.equal(receiver.onFragment(f.id, f.total, f.offset, f.data), "ok");
        const key = (m: Uint8Array) => Buffer.from(m).toString("hex");
        assert.deepEqual(got.map(key).sort(), messages.map(key).sort());
        assert.equal(receiver.pendingMessages, 0);
      },
    ),
    { numRuns: 200 },
  );
});

test("a message that fits in one fragment is delivered as a view, without a copy", () => {
  const datagram = new Uint8Array(100);
  const data = datagram.subarray(10, 60);
  let delivered: Uint8Array | null = null;
  const receiver = new BulkReceiver((m) => {
    delivered = m;
  });
  receiver.onFragment(0, 50, 0, data);
  assert.equal(delivered, data);
});

test("lost ranges go out before new messages; completion releases the bytes", () => {
  const s = new BulkSender();
  const a = s.enqueue(new Uint8Array(100));
  s.enqueue(new Uint8Array(100));
  const p = pick();
  s.next(60, p);
  const lostOffset = p.offset;
  const lostLength = p.length;
  s.next(200, p);
  s.onLost(a, lostOffset, lostLength);
  assert.ok(s.next(500, p));
  assert.equal(p.message, a);
  assert.equal(p.retransmit, true);
  assert.equal(p.offset, lostOffset);
  assert.equal(s.retainedBytes, 200);
  assert.equal(s.onAcked(a, 0, 50), false);
  assert.equal(s.onAcked(a, 0, 100), true);
  assert.equal(s.retainedBytes, 100);
  // A late loss report for a completed message changes nothing.
  s.onLost(a, 0, 10);
  s.next(500, p);
  assert.notEqual(p.message, a);
});

test("a loss report for bytes already acknowledged by another copy is not resent", () => {
  const s = new BulkSender();
  const a = s.enqueue(new Uint8Array(100));
  const p = pick();
  s.next(1000, p);
  s.onAcked(a, 0, 50);
  s.onLost(a, 0, 100);
  assert.ok(s.next(1000, p));
  assert.deepEqual([p.offset, p.length], [50, 50]);
});

test("new messages wait for credit", () => {
  const s = new BulkSender();
  s.enqueue(new Uint8Array(MAX_BULK_MESSAGE));
  s.enqueue(new Uint8Array(MAX_BULK_MESSAGE));
  const p = pick();
  while (s.next(60_000, p));
  // Two full messages plus their charges exceed the window.
  assert.ok(2 * (MAX_BULK_MESSAGE + BULK_MESSAGE_CHARGE) > BULK_WINDOW);
  assert.equal(s.hasData(), false);
  assert.equal(s.creditBlocked, true);
  s.limit = BULK_WINDOW + 2 * BULK_MESSAGE_CHARGE;
  assert.equal(s.hasData(), true);
});

test("the receiver refuses fragments beyond its credit or contradicting a message's length", () => {
  const r = new BulkReceiver(() => {});
  assert.equal(r.onFragment(0, 10, 0, new Uint8Array(5)), "ok");
  assert.equal(r.check(0, 11), "violation");
  assert.equal(r.onFragment(0, 11, 5, new Uint8Array(5)), "violation");
  const filler = BULK_WINDOW - 10 - 2 * BULK_MESSAGE_CHARGE;
  assert.equal(r.check(1, filler), "ok");
  assert.equal(r.check(1, filler + 1), "violation");
});

test("credit is returned as messages are delivered", () => {
  const r = new BulkReceiver(() => {});
  assert.equal(r.creditUpdate(), -1);
  r.onFragment(0, MAX_BULK_MESSAGE, 0, new Uint8Array(MAX_BULK_MESSAGE));
  assert.equal(r.creditUpdate(), MAX_BULK_MESSAGE + BULK_MESSAGE_CHARGE + BULK_WINDOW);
  // Fragments of a delivered message are ignored.
  assert.equal(r.onFragment(0, MAX_BULK_MESSAGE, 0, new Uint8Array(10)), "ok");
  assert.equal(r.pendingMessages, 0);
});
