// Cluster options of the NATS adapter, without a server: the replica default for a URL list,
// `nats.replicas` validation, the event stream retention that follows the replicas, ping
// detection settings, and the order nodes are tried in.
import t from 'tap';
import { isBrokerkitError } from '@brokerkit/core';
import type { Server } from '@nats-io/transport-node';
import { DEFAULT_EVENT_MAX_AGE_MS, defaultReplicas, resolveNatsOptions } from '../src/options.js';
import { leastRecentlyTried } from '../src/connection.js';

t.test('replicas: 1 for one URL, the URL count up to 3 for a list; nats.replicas wins', async (t) => {
  t.same([1, 2, 3, 4, 5].map(defaultReplicas), [1, 2, 3, 3, 3]);
  t.equal(resolveNatsOptions(undefined).replicas, 1);
  t.equal(resolveNatsOptions(undefined, 3).replicas, 3);
  t.equal(resolveNatsOptions({ replicas: 1 }, 3).replicas, 1);
  t.equal(resolveNatsOptions({ replicas: 5 }, 1).replicas, 5);
});

t.test('nats.replicas must be an integer 1..5: BK_VALIDATION', async (t) => {
  for (const bad of [0, 6, -1, 1.5, '3', null, Number.NaN]) {
    let error: unknown;
    try {
      resolveNatsOptions({ replicas: bad as unknown as number }, 3);
    } catch (e) {
      error = e;
    }
    t.ok(
      isBrokerkitError(error) && error.code === 'BK_VALIDATION' && /1 to 5/.test(error.message),
      `replicas ${String(bad)}: ${String(error)}`,
    );
  }
});

t.test('event streams: interest on one replica, limits (7 days, no byte cap) when replicated', async (t) => {
  const pick = (o: ReturnType<typeof resolveNatsOptions>) => [
    o.eventRetention,
    o.eventMaxAgeMs,
    o.eventMaxBytes,
  ];
  t.same(pick(resolveNatsOptions(undefined)), ['interest', DEFAULT_EVENT_MAX_AGE_MS, -1], 'one URL');
  t.same(pick(resolveNatsOptions(undefined, 3)), ['limits', DEFAULT_EVENT_MAX_AGE_MS, -1], 'a list');
  t.equal(DEFAULT_EVENT_MAX_AGE_MS, 604_800_000);
  t.equal(resolveNatsOptions({ replicas: 1 }, 3).eventRetention, 'interest', 'replicas: 1 on a list');
  t.equal(resolveNatsOptions({ replicas: 3 }, 1).eventRetention, 'limits', 'replicas: 3 on one URL');
  t.equal(
    resolveNatsOptions({ eventRetention: 'interest' }, 3).eventRetention,
    'interest',
    'the option wins',
  );
  t.equal(resolveNatsOptions({ eventRetention: 'limits' }, 1).eventRetention, 'limits');
  t.same(pick(resolveNatsOptions({ eventMaxAgeMs: 3_600_000, eventMaxBytes: 1 << 30 }, 3)), [
    'limits',
    3_600_000,
    1 << 30,
  ]);
  t.equal(resolveNatsOptions({ eventMaxBytes: -1 }, 3).eventMaxBytes, -1, '-1: no limit');
  for (const bad of [
    { eventRetention: 'workqueue' },
    { eventRetention: 1 },
    { eventMaxAgeMs: 0 },
    { eventMaxAgeMs: 1.5 },
    { eventMaxBytes: 0 },
    { eventMaxBytes: -2 },
  ]) {
    t.throws(() => resolveNatsOptions(bad as never, 3), { code: 'BK_VALIDATION' }, JSON.stringify(bad));
  }
});

t.test('ping detection: 5 s × 2 by default, both configurable and validated', async (t) => {
  const o = resolveNatsOptions(undefined);
  t.same([o.pingIntervalMs, o.maxPingOut], [5_000, 2]);
  t.same(
    [resolveNatsOptions({ pingIntervalMs: 1_000, maxPingOut: 3 })].map((r) => [
      r.pingIntervalMs,
      r.maxPingOut,
    ]),
    [[1_000, 3]],
  );
  t.throws(() => resolveNatsOptions({ maxPingOut: 0 }), { code: 'BK_VALIDATION' });
});

t.test('after a loss the node tried least recently is dialled, the lost one last', async (t) => {
  const s = (listen: string, lastConnect: number) => ({ listen, lastConnect }) as unknown as Server;
  // nats.js offers the node it just lost first again (it was at the head of the pool).
  const lost = s('a:1', 5_000);
  const pool = [lost, s('b:2', 0), s('c:3', 0)];
  t.equal(leastRecentlyTried(pool)?.listen, 'b:2', 'a node never tried before the lost one');
  t.equal(
    leastRecentlyTried([s('b:2', 100), s('c:3', 200), s('a:1', 5_000)]),
    null,
    "nats.js' own pick when it is the least recent",
  );
  t.equal(leastRecentlyTried([s('c:3', 300), s('a:1', 5_000), s('b:2', 100)])?.listen, 'b:2');
  t.equal(leastRecentlyTried([]), null);
});
