// The status page's history on a clock the test moves: rates from counter deltas, queue numbers
// only while watched, gaps and resets as null, bounded length.
import t from 'tap';
import { metrics } from '@brokerkit/metrics';
import type { Broker, QueueInfo } from '@brokerkit/core';
import { StatusHistory } from '../src/status/history.js';

/** A registry with the two counters the history reads, set by hand. */
function counters() {
  const m = metrics({ defaultMetrics: false });
  const published = m.registry.getSingleMetric('brokerkit_messages_published_total')!;
  const consumed = m.registry.getSingleMetric('brokerkit_messages_consumed_total')!;
  const values = { published: new Map<string, number>(), consumed: new Map<string, number>() };
  // Replace the families' snapshots with the test's numbers (label sets as the middleware writes them).
  (published as unknown as { get: () => unknown }).get = () => ({
    values: [...values.published].map(([destination, value]) => ({ labels: { destination }, value })),
  });
  (consumed as unknown as { get: () => unknown }).get = () => ({
    values: [...values.consumed].map(([key, value]) => {
      const [destination, group, outcome] = key.split('|');
      return { labels: { destination, group, outcome }, value };
    }),
  });
  return { registry: m.registry, values };
}

function fakeBroker(queues: () => QueueInfo[]): Broker {
  return {
    adapter: 'fake',
    status: 'ready',
    inspector: { listQueues: async () => queues() },
  } as unknown as Broker;
}

t.test('rates per second between samples; depth only while watched', async (t) => {
  const { registry, values } = counters();
  let now = 10_000;
  let queues: QueueInfo[] = [
    { name: 'emails', kind: 'queue', depth: 4, inFlight: 1, consumers: 1 },
    { name: 'emails.dlq', kind: 'dlq', depth: 2, inFlight: 0, consumers: 0 },
    { name: 'billing', kind: 'group', depth: 1, inFlight: null, consumers: 2 },
  ];
  const history = new StatusHistory({
    broker: fakeBroker(() => queues),
    registry,
    sampleMs: 1000,
    keepMs: 3000,
    watchMs: 5000,
    now: () => now,
  });
  values.published.set('emails', 10).set('orders.created', 100);
  values.consumed.set('emails||ack', 8).set('emails||retry', 1).set('orders.created|billing|ack', 50);
  await history.sample();
  now += 2000;
  values.published.set('emails', 30).set('orders.created', 300);
  values.consumed.set('emails||ack', 18).set('emails||dead_letter', 1).set('orders.created|billing|ack', 150);
  await history.sample();
  const [first, second] = history.overall();
  t.same(first, {
    t: 10_000,
    published: null,
    consumed: null,
    failed: null,
    depth: null,
    inFlight: null,
    deadLetters: null,
  });
  t.same(
    second,
    { t: 12_000, published: 110, consumed: 55, failed: 0.5, depth: null, inFlight: null, deadLetters: null },
    'not watched: no depth',
  );
  t.same(history.latestRates(), {
    destinations: { emails: 10, 'orders.created': 100 },
    consumers: { emails: { consumed: 5, failed: 0.5 }, billing: { consumed: 50, failed: 0 } },
  });

  await history.watch(); // samples at once, with the queues
  const watched = history.overall().at(-1)!;
  t.match(
    watched,
    { depth: 5, inFlight: 1, deadLetters: 2 },
    'dead letters apart from depth; unknown in-flight skipped',
  );
  t.match(history.queue('emails').at(-1), { depth: 4, inFlight: 1, deadLetters: 2 });
  t.equal(history.queue('billing').at(-1)!.published, null, 'a group has no published rate of its own');
  t.equal(history.queue('billing').at(-1)!.inFlight, null);

  // A reset counter (the process restarted its registry) is a gap, not a negative rate.
  now += 1000;
  values.published.set('emails', 0).set('orders.created', 0);
  queues = [];
  await history.sample();
  t.match(history.overall().at(-1), { published: null, depth: 0, deadLetters: 0 });
  t.match(
    history.queue('emails').at(-1),
    { depth: null, deadLetters: null },
    'a deleted queue has no numbers',
  );

  for (let i = 0; i < 10; i++) {
    now += 1000;
    await history.sample();
  }
  t.equal(history.overall().length, 4, 'keeps keepMs / sampleMs + 1 samples');
  now += 10_000; // nobody watched for longer than watchMs
  await history.sample();
  t.equal(history.overall().at(-1)!.depth, null, 'queues are not inspected once nobody watches');
});

t.test('a failing inspection is reported, and cleared by the next success', async (t) => {
  const { registry } = counters();
  let fail = true;
  const broker = {
    adapter: 'fake',
    status: 'ready',
    inspector: {
      listQueues: async () => {
        if (fail) throw new Error('management API down');
        return [];
      },
    },
  } as unknown as Broker;
  const history = new StatusHistory({ broker, registry, sampleMs: 1000, keepMs: 10_000 });
  await history.watch();
  t.match(history.inspectError, /queue inspection failed: management API down/);
  fail = false;
  await history.sample();
  t.equal(history.inspectError, undefined);
});
