import t from 'tap';
import {
  bindingKey,
  deadLetterQueueName,
  ephemeralQueueName,
  isInternalQueue,
  kindOfMarker,
  parseRetryQueueName,
  retryQueueName,
  roleMarker,
  sendDelayBucket,
} from '../src/names.js';

t.test('patterns become AMQP binding keys; ">" needs at least one token, like "*.#"', async (t) => {
  t.equal(bindingKey('orders.created'), 'orders.created');
  t.equal(bindingKey('orders.*'), 'orders.*');
  t.equal(bindingKey('orders.>'), 'orders.*.#');
  t.equal(bindingKey('>'), '*.#');
  t.equal(bindingKey('*.eu.>'), '*.eu.*.#');
});

t.test('derived queue names', async (t) => {
  t.equal(deadLetterQueueName('billing'), 'billing.dlq');
  t.equal(retryQueueName('billing', 400), 'billing.retry.400');
  t.same(parseRetryQueueName('billing.jobs.retry.400'), { origin: 'billing.jobs', delayMs: 400 });
  t.equal(parseRetryQueueName('billing.dlq'), undefined);
  t.equal(parseRetryQueueName('billing.retry'), undefined);
  const a = ephemeralQueueName();
  t.match(a, /^_bk\.sub\.[0-9a-f]{16}$/);
  t.not(a, ephemeralQueueName(), 'fresh per call');
  t.ok(isInternalQueue(a));
  t.notOk(isInternalQueue('orders'));
});

t.test('role markers: readable, compared by RabbitMQ, at most 255 bytes', async (t) => {
  t.equal(roleMarker({ kind: 'group', pattern: 'orders.*' }), '_bk.group.orders.*');
  t.not(
    roleMarker({ kind: 'group', pattern: 'orders.*' }),
    roleMarker({ kind: 'group', pattern: 'orders.>' }),
  );
  const long = `${'a'.repeat(120)}.${'b'.repeat(120)}.>`;
  const marker = roleMarker({ kind: 'group', pattern: long });
  t.ok(Buffer.byteLength(marker) <= 255, 'long patterns are hashed');
  t.not(marker, roleMarker({ kind: 'group', pattern: `${long.slice(0, -1)}*` }));
  t.equal(kindOfMarker(marker), 'group');
  t.equal(kindOfMarker(roleMarker({ kind: 'queue' })), 'queue');
  t.equal(kindOfMarker(roleMarker({ kind: 'dlq' })), 'dlq');
  t.equal(kindOfMarker(roleMarker({ kind: 'ephemeral' })), undefined);
  t.equal(kindOfMarker('orders'), undefined, "someone else's queue");
  t.equal(kindOfMarker(undefined), undefined);
});

t.test('send delays wait in power-of-two buckets: never shorter than asked, few queues', async (t) => {
  t.equal(sendDelayBucket(1), 1);
  t.equal(sendDelayBucket(100), 128);
  t.equal(sendDelayBucket(128), 128);
  t.equal(sendDelayBucket(1000), 1024);
  for (const d of [3, 17, 999, 65_537]) t.ok(sendDelayBucket(d) >= d && sendDelayBucket(d) < 2 * d, `${d}`);
});
