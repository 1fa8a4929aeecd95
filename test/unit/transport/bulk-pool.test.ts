import assert from "node:assert/strict";
import { test } from "node:test";
import { BufferPool, HEADROOM } from "../../../src/transport/bulk-pool.js";
import { BulkReceiver } from "../../../src/transport/bulk-receiver.js";
import { type BulkPick, BulkSender } from "../../../src/transport/bulk-sender.js";

const MiB = 1024 * 1024;

test("a released buffer is handed out again for a message of the same class", () => {
  const pool = new BufferPool();
  const a = pool.allocate(MiB + 5);
  assert.equal(a.length, MiB + 5);
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, MiB + HEADROOM);
  assert.equal(pool.release(a.subarray(5)), true);
  const b = pool.acquire(700 * 1024);
  assert.equal(b.buffer, a.buffer);
  assert.equal(b.length, 700 * 1024);
  assert.deepEqual(pool.stats(), { allocated: 1, reused: 1, idleBytes: 0 });
});

test("classes are powers of two plus headroom, from 64 KiB to 16 MiB", () => {
  const pool = new BufferPool();
  assert.equal(pool.allocate(1).buffer.byteLength, 64 * 1024 + HEADROOM);
  assert.equal(pool.allocate(64 * 1024 + HEADROOM + 1).buffer.byteLength, 128 * 1024 + HEADROOM);
  assert.equal(pool.allocate(16 * MiB).buffer.byteLength, 16 * MiB + HEADROOM);
  assert.throws(() => pool.allocate(BufferPool.maxLength + 1), RangeError);
  assert.throws(() => pool.acquire(-1), RangeError);
});

test("a buffer is reused only once the application and every transport hold let go", () => {
  const pool = new BufferPool();
  const a = pool.allocate(1000);
  // Sent on two connections, released by the application at once.
  assert.equal(pool.retain(a), true);
  assert.equal(pool.retain(a), true);
  assert.equal(pool.release(a), true);
  assert.notEqual(pool.allocate(1000).buffer, a.buffer);
  pool.drop(a);
  assert.notEqual(pool.allocate(1000).buffer, a.buffer);
  pool.drop(a);
  assert.equal(pool.allocate(1000).buffer, a.buffer);
});

test("foreign buffers and repeated releases are ignored", () => {
  const pool = new BufferPool();
  assert.equal(pool.release(new Uint8Array(100)), false);
  assert.equal(pool.retain(Buffer.allocUnsafe(100)), false);
  pool.drop(new Uint8Array(100));
  const a = pool.allocate(1000);
  pool.retain(a);
  assert.equal(pool.release(a), true);
  // A second release must not end the transport's hold.
  assert.equal(pool.release(a), false);
  assert.notEqual(pool.allocate(1000).buffer, a.buffer);
  // Nor may the application release a buffer the transport is still reassembling into.
  const b = pool.acquire(1000);
  assert.equal(pool.release(b), false);
  assert.notEqual(pool.allocate(1000).buffer, b.buffer);
  assert.equal(pool.stats().idleBytes, 0);
});

test("idle memory is bounded: releases beyond the cap are left to the GC", () => {
  const pool = new BufferPool(3 * (MiB + HEADROOM));
  const held = Array.from({ length: 5 }, () => pool.allocate(MiB));
  for (const b of held) assert.equal(pool.release(b), true);
  assert.equal(pool.stats().idleBytes, 3 * (MiB + HEADROOM));
  for (let i = 0; i < 5; i++) pool.allocate(MiB);
  assert.deepEqual(pool.stats(), { allocated: 7, reused: 3, idleBytes: 0 });
});

test("the bulk receiver reassembles into pooled buffers and returns unfinished ones when disposed", () => {
  const pool = new BufferPool();
  const got: Uint8Array[] = [];
  const r = new BulkReceiver((m) => got.push(m), pool);
  const message = Uint8Array.from({ length: 3000 }, (_, i) => i % 251);
  r.onFragment(0, 3000, 1000, message.subarray(1000));
  r.onFragment(0, 3000, 0, message.subarray(0, 1000));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], message);
  assert.equal(pool.release(got[0]!), true);
  // The next message reuses the buffer; its stale bytes are overwritten before delivery.
  const second = new Uint8Array(3000).fill(7);
  r.onFragment(1, 3000, 0, second.subarray(0, 1500));
  r.onFragment(1, 3000, 1500, second.subarray(1500));
  assert.equal(got[1]!.buffer, got[0]!.buffer);
  assert.deepEqual(got[1], second);
  // A message cut off by the end of the connection goes back to the pool, not to the application.
  r.onFragment(2, 3000, 0, second.subarray(0, 10));
  assert.equal(pool.stats().allocated, 2);
  r.dispose();
  assert.equal(r.pendingMessages, 0);
  assert.equal(pool.stats().idleBytes, 64 * 1024 + HEADROOM);
});

test("the bulk sender holds a pooled message until it is acknowledged or the connection ends", () => {
  const pool = new BufferPool();
  const s = new BulkSender(pool);
  const a = pool.allocate(100);
  const b = pool.allocate(100);
  const ma = s.enqueue(a);
  s.enqueue(b);
  pool.release(a);
  pool.release(b);
  const pick: BulkPick = { message: null, offset: 0, length: 0, retransmit: false };
  while (s.next(1000, pick));
  assert.equal(pool.stats().idleBytes, 0, "both still held for retransmission");
  s.onAcked(ma, 0, 100);
  assert.equal(pool.stats().idleBytes, 64 * 1024 + HEADROOM);
  s.dispose();
  assert.equal(pool.stats().idleBytes, 2 * (64 * 1024 + HEADROOM));
});
