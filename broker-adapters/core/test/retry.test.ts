import t from 'tap';
import { DEFAULT_RETRY, nominalDelay, reconnectDelay, resolveRetryPolicy, retryDelay } from '../src/retry.js';

t.test('defaults follow docs/architecture.md#the-contract', async (t) => {
  t.same(resolveRetryPolicy(), { attempts: 5, initialMs: 200, factor: 2, maxMs: 30_000, jitter: true });
  t.equal(resolveRetryPolicy(undefined), DEFAULT_RETRY);
});

t.test('partial options inherit from the base policy', async (t) => {
  const base = resolveRetryPolicy({ attempts: 3, backoff: { initialMs: 50 } });
  const p = resolveRetryPolicy({ backoff: { jitter: false } }, base);
  t.same(p, { attempts: 3, initialMs: 50, factor: 2, maxMs: 30_000, jitter: false });
});

t.test('invalid policies reject', async (t) => {
  t.throws(() => resolveRetryPolicy({ attempts: 0 }), { code: 'BK_VALIDATION' });
  t.throws(() => resolveRetryPolicy({ attempts: 1.5 }), { code: 'BK_VALIDATION' });
  t.throws(() => resolveRetryPolicy({ backoff: { factor: 0.5 } }), { code: 'BK_VALIDATION' });
  t.throws(() => resolveRetryPolicy({ backoff: { initialMs: -1 } }), { code: 'BK_VALIDATION' });
});

t.test('nominal delays grow exponentially and cap at maxMs', async (t) => {
  const p = resolveRetryPolicy({ backoff: { initialMs: 100, factor: 3, maxMs: 1000 } });
  t.same(
    [1, 2, 3, 4].map((n) => nominalDelay(p, n)),
    [100, 300, 900, 1000],
  );
});

t.test('jitter stays within [nominal/2, nominal]', async (t) => {
  const p = resolveRetryPolicy({ backoff: { initialMs: 1000 } });
  t.equal(
    retryDelay(p, 1, () => 0),
    500,
  );
  t.equal(
    retryDelay(p, 1, () => 0.999999),
    1000,
  );
  const fixed = resolveRetryPolicy({ backoff: { initialMs: 1000, jitter: false } });
  t.equal(
    retryDelay(fixed, 2, () => 0),
    2000,
  );
});

t.test('reconnect delays are bounded', async (t) => {
  t.equal(
    reconnectDelay(1, { initialMs: 100 }, () => 1),
    100,
  );
  t.equal(
    reconnectDelay(1, { initialMs: 100 }, () => 0),
    50,
  );
  t.equal(
    reconnectDelay(20, { initialMs: 100, maxMs: 5000 }, () => 1),
    5000,
  );
});
