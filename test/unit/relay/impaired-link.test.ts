import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/util/clock.js";
import { BlackoutSchedule, ImpairedLink, type LinkConditions, mulberry32 } from "../../helpers/relay.js";

/** A datagram whose first 4 bytes carry its sequence number, so deliveries can be traced back. */
function datagram(seq: number, size = 64): Uint8Array {
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, seq);
  d.fill(seq & 0xff, 4);
  return d;
}

function seqOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0);
}

function makeLink(conditions: Partial<LinkConditions>, seed = 7) {
  const clock = new FakeClock();
  const out: Uint8Array[] = [];
  const link = new ImpairedLink(conditions, seed, new BlackoutSchedule(clock.now()), clock, (d) =>
    out.push(d),
  );
  return { clock, out, link };
}

function run(conditions: Partial<LinkConditions>, count: number, seed = 7): number[] {
  const { out, link } = makeLink(conditions, seed);
  for (let i = 0; i < count; i++) link.push(datagram(i));
  return out.map(seqOf);
}

describe("mulberry32", () => {
  it("is deterministic per seed and uniform enough", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    let sum = 0;
    let differs = false;
    for (let i = 0; i < 10000; i++) {
      const x = a();
      assert.equal(x, b());
      if (x !== c()) differs = true;
      assert.ok(x >= 0 && x < 1);
      sum += x;
    }
    assert.ok(differs);
    assert.ok(Math.abs(sum / 10000 - 0.5) < 0.02, `mean ${sum / 10000}`);
  });
});

describe("ImpairedLink", () => {
  it("passes everything through, in order and untouched, when perfect", () => {
    const { out, link } = makeLink({});
    const sent = Array.from({ length: 100 }, (_, i) => datagram(i));
    for (const d of sent) link.push(d);
    assert.deepEqual(out, sent);
    assert.equal(link.stats.forwarded, 100);
    assert.equal(link.stats.bytesForwarded, 6400);
  });

  it("drops close to the configured fraction and delivers the rest in order", () => {
    const delivered = run({ loss: 0.1 }, 20000);
    const dropped = 20000 - delivered.length;
    // Binomial(20000, 0.1): sd ≈ 42, so ±300 is beyond 7 sd yet still catches a wrong rate.
    assert.ok(dropped > 1700 && dropped < 2300, `dropped ${dropped}`);
    for (let i = 1; i < delivered.length; i++) assert.ok(delivered[i]! > delivered[i - 1]!);
  });

  it("reproduces the same drop pattern from the same seed, another from another seed", () => {
    const first = run({ loss: 0.1 }, 5000, 11);
    assert.deepEqual(run({ loss: 0.1 }, 5000, 11), first);
    assert.notDeepEqual(run({ loss: 0.1 }, 5000, 12), first);
  });

  it("keeps the loss pattern when another knob changes", () => {
    const lossOnly = run({ loss: 0.2 }, 3000);
    const withDuplicates = [...new Set(run({ loss: 0.2, duplicate: 0.3 }, 3000))];
    assert.deepEqual(withDuplicates, lossOnly);
  });

  it("duplicates by sending the copy right after the original", () => {
    const delivered = run({ duplicate: 0.05 }, 20000);
    const extra = delivered.length - 20000;
    assert.ok(extra > 800 && extra < 1200, `duplicates ${extra}`);
    let pairs = 0;
    for (let i = 1; i < delivered.length; i++) {
      assert.ok(delivered[i]! >= delivered[i - 1]!);
      if (delivered[i] === delivered[i - 1]) pairs++;
    }
    assert.equal(pairs, extra);
  });

  it("lets exactly `reorderGap` datagrams overtake a held one", () => {
    const { out, link } = makeLink({ reorder: 1, reorderGap: 3 });
    link.push(datagram(0));
    link.setConditions({ reorder: 0 });
    for (let i = 1; i <= 5; i++) link.push(datagram(i));
    assert.deepEqual(out.map(seqOf), [1, 2, 3, 0, 4, 5]);
  });

  it("reorders about the configured fraction and still delivers everything once", () => {
    const { clock, out, link } = makeLink({ reorder: 0.1, reorderGap: 3, reorderMaxMs: 20 });
    for (let i = 0; i < 10000; i++) link.push(datagram(i));
    clock.advance(20);
    assert.equal(link.pending(), 0);
    const delivered = out.map(seqOf);
    assert.deepEqual(
      [...delivered].sort((x, y) => x - y),
      Array.from({ length: 10000 }, (_, i) => i),
    );
    assert.ok(link.stats.reordered > 850 && link.stats.reordered < 1150, `held ${link.stats.reordered}`);
    const inversions = delivered.filter((seq, pos) => pos > 0 && seq < delivered[pos - 1]!).length;
    assert.ok(inversions > 700, `inversions ${inversions}`);
  });

  it("releases a held datagram after reorderMaxMs when nothing overtakes it", () => {
    const { clock, out, link } = makeLink({ reorder: 1, reorderGap: 5, reorderMaxMs: 20 });
    link.push(datagram(1));
    clock.advance(19);
    assert.equal(out.length, 0);
    clock.advance(1);
    assert.deepEqual(out.map(seqOf), [1]);
  });

  it("delays by delayMs plus jitter without reordering", () => {
    const { clock, out, link } = makeLink({ delayMs: 10, jitterMs: 5 });
    for (let i = 0; i < 200; i++) {
      link.push(datagram(i));
      clock.advance(0.045);
    }
    // 200 pushes span 9 ms; the first can leave no earlier than 10 ms.
    assert.equal(out.length, 0);
    clock.advance(0.5);
    clock.advance(30);
    assert.deepEqual(
      out.map(seqOf),
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it("flips 1 to 3 bits of a copy and leaves the sender's bytes alone", () => {
    const { out, link } = makeLink({ corrupt: 1 });
    const sent = Array.from({ length: 500 }, (_, i) => datagram(i, 100));
    const pristine = sent.map((d) => d.slice());
    for (const d of sent) link.push(d);
    assert.deepEqual(sent, pristine);
    const flipCounts = new Set<number>();
    out.forEach((d, i) => {
      let bits = 0;
      for (let j = 0; j < d.length; j++) {
        let x = d[j]! ^ pristine[i]![j]!;
        for (; x; x &= x - 1) bits++;
      }
      assert.ok(bits >= 1 && bits <= 3, `datagram ${i}: ${bits} bits flipped`);
      flipCounts.add(bits);
    });
    assert.deepEqual([...flipCounts].sort(), [1, 2, 3]);
    assert.equal(link.stats.corrupted, 500);
  });

  it("drops everything during a blackout and nothing outside it", () => {
    const clock = new FakeClock();
    const blackouts = new BlackoutSchedule(clock.now());
    blackouts.add({ atMs: 100, durationMs: 50 });
    const out: Uint8Array[] = [];
    const link = new ImpairedLink({}, 1, blackouts, clock, (d) => out.push(d));
    for (let ms = 0; ms < 300; ms++) {
      link.push(datagram(ms));
      clock.advance(1);
    }
    const delivered = out.map(seqOf);
    assert.deepEqual(
      delivered,
      Array.from({ length: 300 }, (_, i) => i).filter((ms) => ms < 100 || ms >= 150),
    );
    assert.equal(link.stats.blackedOut, 50);
  });

  it("rejects nonsense conditions", () => {
    const { link } = makeLink({});
    assert.throws(() => link.setConditions({ loss: 1.5 }), RangeError);
    assert.throws(() => link.setConditions({ delayMs: -1 }), RangeError);
    assert.throws(() => link.setConditions({ duplicate: Number.NaN }), RangeError);
    assert.equal(link.current().loss, 0);
  });
});
