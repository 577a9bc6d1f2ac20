// Time limits of confirmed writes on one shared timer: each waiter settles once, answered or
// expired, in any order of answers and timeouts.
import t from 'tap';
import { Deadlines, type Waiter } from '../src/deadlines.js';

function deadlines(): { d: Deadlines; settled: () => number } {
  let settled = 0;
  const d = new Deadlines(
    (w: Waiter) => new Error(`${w.what} ${w.destination}: ${w.timeoutMs} ms`),
    () => settled++,
  );
  return { d, settled: () => settled };
}

t.test('answered writes resolve and leave nothing waiting', async (t) => {
  const { d, settled } = deadlines();
  const waiters = Array.from({ length: 3_000 }, (_, i) => d.start(60_000, 'send to', `q${i}`));
  t.equal(d.size, 3_000);
  // Out of order at first, then from the front: what was answered further back is dropped later.
  d.resolve(waiters[1]!);
  d.resolve(waiters[2]!);
  for (const w of waiters) d.resolve(w);
  await Promise.all(waiters.map((w) => w.promise));
  t.equal(d.size, 0);
  t.equal(settled(), 3_000, 'settled once each');
});

t.test('a failed write rejects with its error, once', async (t) => {
  const { d, settled } = deadlines();
  const w = d.start(60_000, 'send to', 'q');
  const failure = new Error('boom');
  d.reject(w, failure);
  d.resolve(w);
  await t.rejects(w.promise, failure);
  t.equal(settled(), 1);
});

t.test('an unanswered write expires with the error made for it; a late answer changes nothing', async (t) => {
  const { d, settled } = deadlines();
  const answered = d.start(60_000, 'send to', 'kept');
  const lost = d.start(5, 'send to', 'lost'); // shorter than the one before: ordered in front of it
  await t.rejects(lost.promise, { message: 'send to lost: 5 ms' });
  t.equal(settled(), 1);
  d.resolve(lost);
  t.equal(settled(), 1, 'an expired write is not settled again');
  t.equal(d.size, 1, 'the longer limit still waits');
  d.resolve(answered);
  await answered.promise;
  t.equal(d.size, 0);
});

t.test('writes without a finite limit never expire', async (t) => {
  const { d } = deadlines();
  const w = d.start(Number.POSITIVE_INFINITY, 'publish to', 'x');
  t.equal(d.size, 0, 'not in the list');
  d.resolve(w);
  await w.promise;
});

t.test('expiry reaches past settled entries to the next one due', async (t) => {
  const { d } = deadlines();
  const first = d.start(1, 'send to', 'a');
  const second = d.start(2, 'send to', 'b');
  const third = d.start(3, 'send to', 'c');
  d.resolve(second);
  await t.rejects(first.promise, { message: 'send to a: 1 ms' });
  await t.rejects(third.promise, { message: 'send to c: 3 ms' });
  await second.promise;
  t.equal(d.size, 0);
});
