import assert from "node:assert/strict";
import { test } from "node:test";
import { type Schedulable, SendScheduler } from "../../../src/transport/scheduler.js";
import { FakeClock } from "../../../src/util/clock.js";

/** A connection that records how it is driven and answers from a script. */
class FakeConn implements Schedulable {
  open = true;
  pacingWakeAt = Number.POSITIVE_INFINITY;
  deadline = Number.POSITIVE_INFINITY;
  /** What successive transmit calls return (the last one repeats). */
  answers: number[] = [Number.POSITIVE_INFINITY];
  readonly transmits: { now: number; budget: number }[] = [];
  readonly timers: number[] = [];

  transmit(now: number, budget: number): number {
    this.transmits.push({ now, budget });
    return this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!;
  }

  nextDeadline(): number {
    return Math.min(this.deadline, this.pacingWakeAt);
  }

  onTimer(now: number): void {
    this.timers.push(now);
    if (now >= this.deadline) this.deadline = Number.POSITIVE_INFINITY;
    if (now >= this.pacingWakeAt) this.pacingWakeAt = Number.POSITIVE_INFINITY;
  }
}

/** Lets pending setImmediate callbacks (the scheduler's flushes) run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("connections marked dirty in one turn are served once, at its end, with the batch budget", async () => {
  const clock = new FakeClock();
  const s = new SendScheduler<FakeConn>(clock, 16);
  const a = new FakeConn();
  const b = new FakeConn();
  s.markDirty(a);
  s.markDirty(a);
  s.markDirty(b);
  assert.equal(a.transmits.length, 0, "nothing is sent synchronously");
  await turn();
  assert.deepEqual(a.transmits, [{ now: 0, budget: 16 }]);
  assert.equal(b.transmits.length, 1);
  await turn();
  assert.equal(a.transmits.length, 1, "a connection with nothing more to send is not served again");
});

test("a connection that could send more is served again on the next turn, and yields in between", async () => {
  const clock = new FakeClock();
  const s = new SendScheduler<FakeConn>(clock, 4);
  const a = new FakeConn();
  a.answers = [0, 0, Number.POSITIVE_INFINITY];
  s.markDirty(a);
  let otherWork = 0;
  setImmediate(() => otherWork++);
  await turn();
  assert.equal(a.transmits.length, 1);
  await turn();
  assert.equal(a.transmits.length, 2);
  assert.equal(otherWork, 1, "other callbacks ran between the batches");
  await turn();
  await turn();
  assert.equal(a.transmits.length, 3);
});

test("a pacing delay arms the timer; when it fires the connection is served again", async () => {
  const clock = new FakeClock();
  const s = new SendScheduler<FakeConn>(clock, 16);
  const a = new FakeConn();
  a.answers = [2.5, Number.POSITIVE_INFINITY];
  s.markDirty(a);
  await turn();
  assert.equal(a.pacingWakeAt, 2.5);
  clock.advance(2);
  assert.deepEqual(a.timers, []);
  clock.advance(1);
  assert.deepEqual(a.timers, [2.5]);
  await turn();
  assert.equal(a.transmits.length, 2);
  assert.equal(a.transmits[1]!.now, 3);
});

test("the timer follows the earliest deadline and is moved only when the deadline gets earlier", async () => {
  const clock = new FakeClock();
  const s = new SendScheduler<FakeConn>(clock, 16);
  const a = new FakeConn();
  a.deadline = 50;
  s.arm(a);
  a.deadline = 80;
  s.arm(a);
  clock.advance(50);
  assert.deepEqual(a.timers, [50], "a later deadline does not postpone the armed timer");
  a.deadline = 100;
  s.arm(a);
  a.deadline = 60;
  s.arm(a);
  clock.advance(10);
  assert.deepEqual(a.timers, [50, 60]);
  clock.advance(100);
  assert.deepEqual(a.timers, [50, 60], "nothing left to wake up for");
});

test("forgotten, closed and stopped connections are not served", async () => {
  const clock = new FakeClock();
  const s = new SendScheduler<FakeConn>(clock, 16);
  const a = new FakeConn();
  const b = new FakeConn();
  a.deadline = 10;
  b.deadline = 10;
  s.arm(a);
  s.arm(b);
  s.markDirty(a);
  s.forget(a);
  b.open = false;
  clock.advance(20);
  await turn();
  assert.equal(a.transmits.length + a.timers.length, 0);
  assert.deepEqual(b.timers, []);
  const c = new FakeConn();
  c.deadline = 5;
  s.arm(c);
  s.stop();
  s.markDirty(c);
  clock.advance(20);
  await turn();
  assert.equal(c.transmits.length + c.timers.length, 0);
});
