// Cluster options of the NATS adapter, without a server: the replica default for a URL list,
// `nats.replicas` validation, ping detection settings, and the order nodes are tried in.
import t from 'tap';
import { isBrokerkitError } from '@brokerkit/core';
import type { Server } from '@nats-io/transport-node';
import { defaultReplicas, resolveNatsOptions } from '../src/options.js';
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
