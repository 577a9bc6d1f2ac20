// The per-client failure counter behind the mutating routes' 401 / 429, on a clock the test moves.
import t from 'tap';
import { AuthFailures } from '../src/auth-failures.js';

t.test('max failures per client and window, then blocked until the window ends', async (t) => {
  let now = 1_000;
  const failures = new AuthFailures(3, 60_000, () => now);
  t.equal(failures.blockedFor('a'), 0);
  t.equal(failures.record('a'), false);
  t.equal(failures.record('a'), false);
  t.equal(failures.record('a'), true, 'the third failure uses up the allowance');
  t.equal(failures.blockedFor('a'), 60_000);
  t.equal(failures.blockedFor('b'), 0, 'other clients are counted apart');
  now += 59_999;
  t.equal(failures.blockedFor('a'), 1);
  now += 1;
  t.equal(failures.blockedFor('a'), 0, 'a new window starts');
  t.equal(failures.record('a'), false);
});

t.test('memory stays bounded: many clients evict expired windows, then the oldest', async (t) => {
  let now = 0;
  const failures = new AuthFailures(1, 10, () => now);
  for (let i = 0; i < 10_000; i++) failures.record(`old-${i}`);
  t.ok(failures.blockedFor('old-9999') > 0);
  now = 10; // every window has expired
  failures.record('new');
  t.ok(failures.blockedFor('new') > 0);
  for (let i = 0; i < 10_001; i++) failures.record(`c-${i}`);
  t.equal(failures.blockedFor('new'), 0, 'the oldest window went first');
  t.ok(failures.blockedFor('c-10000') > 0);
});
