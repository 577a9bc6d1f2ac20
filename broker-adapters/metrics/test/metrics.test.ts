import t from 'tap';
import { Registry } from 'prom-client';
import { PermanentError, TimeoutError, connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { resetMemoryBroker } from '@brokerkit/memory';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { metrics } from '../src/index.js';
import { fakeBroker } from './fake-broker.js';
import { promtoolCheck, sample } from './prom-text.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function memoryBroker(t: TapTest): Promise<Broker> {
  const name = uniqueName('metrics');
  const broker = await connect(`memory://${name}`, {
    retry: { attempts: 2, backoff: { initialMs: 1, jitter: false } },
  });
  t.teardown(async () => {
    await broker.close();
    resetMemoryBroker(name);
  });
  return broker;
}

t.test('publish and send are counted and timed per destination', async (t) => {
  const broker = await memoryBroker(t);
  const m = metrics({ defaultMetrics: false });
  broker.use(m);
  const queue = uniqueName('q');
  await Promise.all(Array.from({ length: 5 }, (_, i) => broker.send(queue, { i })));
  await Promise.all(Array.from({ length: 3 }, (_, i) => broker.publish('orders.created', { i })));
  const text = await m.registry.metrics();
  const labels = { broker: 'memory', destination: queue };
  t.equal(sample(text, 'brokerkit_messages_published_total', labels), 5);
  t.equal(sample(text, 'brokerkit_messages_published_total', { destination: 'orders.created' }), 3);
  t.equal(sample(text, 'brokerkit_publish_duration_seconds_count', labels), 5);
  t.equal(sample(text, 'brokerkit_publish_errors_total', labels), 0);
});

t.test('rejected publishes count as errors, not as published', async (t) => {
  const fake = await fakeBroker();
  t.teardown(() => fake.broker.close());
  const m = metrics({ defaultMetrics: false });
  fake.broker.use(m);
  await fake.broker.publish('a.b', 1);
  fake.publishError = new TimeoutError('no confirm');
  await t.rejects(fake.broker.publish('a.b', 2), { code: 'BK_TIMEOUT' });
  await t.rejects(fake.broker.send('jobs', 3), { code: 'BK_TIMEOUT' });
  const text = await m.registry.metrics();
  t.equal(sample(text, 'brokerkit_messages_published_total', { destination: 'a.b' }), 1);
  t.equal(sample(text, 'brokerkit_publish_errors_total', { destination: 'a.b' }), 1);
  t.equal(sample(text, 'brokerkit_publish_errors_total', { destination: 'jobs' }), 1);
});

t.test(
  'on memory:// (confirmed within the call) a rejected publish is an error, the rest are published',
  async (t) => {
    const broker = await memoryBroker(t);
    const m = metrics({ defaultMetrics: false });
    broker.use(m);
    // A user middleware wrapping publishes runs alongside metrics' synchronous observer.
    let wrapped = 0;
    broker.use({
      publish: (_context, next) => {
        wrapped++;
        return next();
      },
    });
    await broker.publish('big.one', { i: 1 });
    // Over memory://'s own 1 MiB limit: rejected by the transport, not by core.
    await t.rejects(broker.publish('big.one', Buffer.alloc(1024 * 1024 + 1)), {
      code: 'BK_PAYLOAD_TOO_LARGE',
    });
    await broker.send('big-jobs', { i: 2 });
    const text = await m.registry.metrics();
    t.equal(sample(text, 'brokerkit_messages_published_total', { destination: 'big.one' }), 1);
    t.equal(sample(text, 'brokerkit_publish_errors_total', { destination: 'big.one' }), 1);
    t.equal(sample(text, 'brokerkit_messages_published_total', { destination: 'big-jobs' }), 1);
    t.equal(sample(text, 'brokerkit_publish_duration_seconds_count', { destination: 'big.one' }), 1);
    t.equal(wrapped, 3, 'the wrapping middleware saw every publish and send');
  },
);

t.test("core's published observers (what metrics relies on) see each publish's own message", async (t) => {
  const broker = await memoryBroker(t);
  const seen: string[] = [];
  broker.use({
    published(context, error) {
      seen.push(`${context.kind} ${context.message.destination} ${error ? error.name : 'ok'}`);
      // Publishing from inside an observer: the outer call's context must stay intact.
      if (context.message.destination === 'outer.one') void broker.publish('inner.one', 2);
      seen.push(`after ${context.message.destination}`);
    },
  });
  broker.use({
    published() {
      throw new Error('a faulty observer');
    },
  });
  await broker.publish('outer.one', 1);
  await broker.send('jobs-q', 3);
  await t.rejects(broker.publish('outer.two', Buffer.alloc(1024 * 1024 + 1)));
  t.same(seen, [
    'publish outer.one ok',
    'publish inner.one ok',
    'after inner.one',
    'after outer.one',
    'send jobs-q ok',
    'after jobs-q',
    'publish outer.two PayloadTooLargeError',
    'after outer.two',
  ]);
});

t.test('deliveries are counted by outcome, with handler duration and lag', async (t) => {
  const broker = await memoryBroker(t);
  const m = metrics({ defaultMetrics: false });
  broker.use(m);
  const queue = uniqueName('work');
  // ok → ack; flaky → retry then ack; bad → PermanentError → dead_letter; doomed → retry, dead_letter.
  const seen = new Map<string, number>();
  const worker = await broker.consume<{ kind: string }>(queue, (msg) => {
    const n = (seen.get(msg.id) ?? 0) + 1;
    seen.set(msg.id, n);
    if (msg.data.kind === 'flaky' && n === 1) throw new Error('first try fails');
    if (msg.data.kind === 'bad') throw new PermanentError('never valid');
    if (msg.data.kind === 'doomed') throw new Error('always fails');
  });
  t.teardown(() => worker.close());
  for (const kind of ['ok', 'ok', 'flaky', 'bad', 'doomed']) await broker.send(queue, { kind });
  const labels = { destination: queue, group: '' };
  const settled = async () => {
    const text = await m.registry.metrics();
    const count = (outcome: string) =>
      sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome }) ?? 0;
    return count('ack') + count('dead_letter') === 5 ? text : undefined;
  };
  const text = await waitFor(settled, { message: 'five messages settled' });
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'ack' }), 3);
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'retry' }), 2);
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'dead_letter' }), 2);
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'discarded' }), 0);
  // 5 messages, 2 of them delivered twice: 7 handler runs.
  t.equal(sample(text, 'brokerkit_process_duration_seconds_count', labels), 7);
  t.equal(sample(text, 'brokerkit_delivery_lag_seconds_count', labels), 7);
});

t.test('ephemeral subscriptions out of attempts count as discarded; groups carry their label', async (t) => {
  const broker = await memoryBroker(t);
  const m = metrics({ defaultMetrics: false });
  broker.use(m);
  const errors: Error[] = [];
  broker.on('error', (e) => errors.push(e));
  const topic = `${uniqueName('ev')}.created`;
  const prefix = topic.split('.')[0]!;
  const group = uniqueName('g');
  const ephemeral = await broker.subscribe(
    `${prefix}.*`,
    () => {
      throw new Error('nope');
    },
    { retry: { attempts: 1 } },
  );
  const grouped = await broker.subscribe(`${prefix}.>`, () => {}, { group });
  t.teardown(() => Promise.all([ephemeral.close(), grouped.close()]));
  await broker.publish(topic, 'x');
  const text = await waitFor(async () => {
    const text = await m.registry.metrics();
    const discarded = sample(text, 'brokerkit_messages_consumed_total', { group: '', outcome: 'discarded' });
    const acked = sample(text, 'brokerkit_messages_consumed_total', { group, outcome: 'ack' });
    return discarded === 1 && acked === 1 ? text : undefined;
  });
  t.equal(
    sample(text, 'brokerkit_messages_consumed_total', { destination: `${prefix}.>`, group, outcome: 'ack' }),
    1,
  );
  t.equal(errors.length, 1);
});

t.test('queue gauges read the inspector at scrape time', async (t) => {
  const broker = await memoryBroker(t);
  const m = metrics({ defaultMetrics: false, inspectCacheMs: 1 });
  broker.use(m);
  const queue = uniqueName('depth');
  await Promise.all(Array.from({ length: 7 }, (_, i) => broker.send(queue, i)));
  let text = await m.registry.metrics();
  t.equal(sample(text, 'brokerkit_queue_depth', { broker: 'memory', queue, kind: 'queue' }), 7);
  t.equal(sample(text, 'brokerkit_queue_in_flight', { queue, kind: 'queue' }), 0);
  t.equal(sample(text, 'brokerkit_queue_consumers', { queue, kind: 'queue' }), 0);
  t.equal(sample(text, 'brokerkit_queue_depth', { queue: `${queue}.dlq`, kind: 'dlq' }), 0);
  await broker.inspector!.deleteQueue(queue);
  await waitFor(
    async () => {
      text = await m.registry.metrics();
      return sample(text, 'brokerkit_queue_depth', { queue }) === undefined;
    },
    { message: 'a deleted queue leaves the gauges' },
  );
  t.pass('deleted queue gone from the gauges');
});

t.test('one scrape inspects once, and scrapes within the cache time reuse it', async (t) => {
  const fake = await fakeBroker();
  t.teardown(() => fake.broker.close());
  fake.listQueues = async () => [{ name: 'jobs', kind: 'queue', depth: 3, inFlight: null, consumers: 1 }];
  const m = metrics({ defaultMetrics: false, inspectCacheMs: 60_000 });
  fake.broker.use(m);
  const text = await m.registry.metrics();
  t.equal(fake.listCalls, 1, 'three gauges, one inspection');
  t.equal(sample(text, 'brokerkit_queue_depth', { broker: 'fake', queue: 'jobs' }), 3);
  t.equal(
    sample(text, 'brokerkit_queue_in_flight', { queue: 'jobs' }),
    undefined,
    'null in-flight is left out',
  );
  await Promise.all([m.registry.metrics(), m.registry.metrics()]);
  t.equal(fake.listCalls, 1, 'cached');
});

t.test('a failing or hanging inspector never fails the scrape', async (t) => {
  const fake = await fakeBroker();
  t.teardown(() => fake.broker.close());
  const logged: string[] = [];
  const m = metrics({
    defaultMetrics: false,
    inspectTimeoutMs: 50,
    inspectCacheMs: 1,
    log: (message, error) => logged.push(`${message}: ${error.message}`),
  });
  fake.broker.use(m);
  fake.listQueues = async () => {
    throw new Error('management API down');
  };
  let text = await m.registry.metrics();
  t.equal(sample(text, 'brokerkit_inspector_errors_total', { broker: 'fake' }), 1);
  t.equal(sample(text, 'brokerkit_queue_depth'), undefined);
  t.match(logged, [/management API down/]);
  fake.listQueues = () => new Promise(() => {}); // never answers
  text = await m.registry.metrics();
  t.equal(sample(text, 'brokerkit_inspector_errors_total', { broker: 'fake' }), 2);
  t.match(logged[1], /took longer than 50 ms/);
  fake.listQueues = async () => [{ name: 'back', kind: 'group', depth: 1, inFlight: 0, consumers: 0 }];
  await waitFor(
    async () => sample(await m.registry.metrics(), 'brokerkit_queue_depth', { queue: 'back' }) === 1,
  );
  t.pass('recovers on the next scrape');
});

t.test('connection_up and reconnects follow the broker status', async (t) => {
  const fake = await fakeBroker();
  const m = metrics({ defaultMetrics: false });
  fake.broker.use(m);
  const up = async () => sample(await m.registry.metrics(), 'brokerkit_connection_up', { broker: 'fake' });
  const reconnects = async () =>
    sample(await m.registry.metrics(), 'brokerkit_reconnects_total', { broker: 'fake' });
  t.equal(await up(), 1);
  t.equal(await reconnects(), 0);
  fake.hooks.status('reconnecting', new Error('socket closed'));
  t.equal(await up(), 0);
  fake.hooks.status('ready');
  t.equal(await up(), 1);
  t.equal(await reconnects(), 1);
  await fake.broker.close();
  t.equal(await up(), 0);
});

t.test('blocked (a RabbitMQ alarm) keeps connection_up at 1 and is no reconnect', async (t) => {
  const fake = await fakeBroker();
  t.teardown(() => fake.broker.close());
  const m = metrics({ defaultMetrics: false });
  fake.broker.use(m);
  const up = async () => sample(await m.registry.metrics(), 'brokerkit_connection_up', { broker: 'fake' });
  const reconnects = async () =>
    sample(await m.registry.metrics(), 'brokerkit_reconnects_total', { broker: 'fake' });
  fake.hooks.status('blocked', new Error('low on memory'));
  t.equal(fake.broker.status, 'blocked');
  t.equal(await up(), 1, 'still connected while blocked');
  fake.hooks.status('ready');
  t.equal(await up(), 1);
  t.equal(await reconnects(), 0, 'blocked → ready is not counted as a reconnect');
});

t.test('several brokers share one registry; default metrics are registered once', async (t) => {
  const registry = new Registry();
  const a = await memoryBroker(t);
  const b = await fakeBroker();
  t.teardown(() => b.broker.close());
  a.use(metrics({ registry }));
  b.broker.use(metrics({ registry }));
  await a.send(uniqueName('q'), 1);
  await b.broker.send('jobs', 1);
  const text = await registry.metrics();
  t.equal(sample(text, 'brokerkit_connection_up', { broker: 'memory' }), 1);
  t.equal(sample(text, 'brokerkit_connection_up', { broker: 'fake' }), 1);
  t.equal(sample(text, 'brokerkit_messages_published_total', { broker: 'fake', destination: 'jobs' }), 1);
  t.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'default metrics present');
  promtoolCheck(t, text);
});

t.test('options are validated', async (t) => {
  t.throws(() => metrics({ inspectTimeoutMs: 0 }), RangeError);
  t.throws(() => metrics({ inspectCacheMs: Number.NaN }), RangeError);
});

t.test('requests are counted with their round trip; responders by outcome reply / reply_error', async (t) => {
  const broker = await memoryBroker(t);
  const m = metrics({ defaultMetrics: false });
  broker.use(m);
  const topic = `${uniqueName('rpc')}.get`;
  const pattern = `${topic.split('.')[0]!}.*`;
  await broker.respond<string>(pattern, (msg) => {
    if (msg.data === 'fail') throw new Error('no');
    return 'ok';
  });
  await broker.request(topic, 'a');
  await broker.request(topic, 'b');
  await t.rejects(broker.request(topic, 'fail'), { code: 'BK_REMOTE' });
  await t.rejects(broker.request(`${uniqueName('none')}.x`, 1), { code: 'BK_NO_RESPONDERS' });
  const text = await m.registry.metrics();
  const requested = { broker: 'memory', destination: topic };
  t.equal(
    sample(text, 'brokerkit_messages_published_total', requested),
    3,
    'answered requests, a remote error included',
  );
  t.equal(sample(text, 'brokerkit_request_duration_seconds_count', requested), 3, 'their round trips');
  t.equal(
    sample(text, 'brokerkit_publish_duration_seconds_count', requested),
    undefined,
    'not as publish times',
  );
  const responded = { destination: pattern, group: '' };
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...responded, outcome: 'reply' }), 2);
  t.equal(sample(text, 'brokerkit_messages_consumed_total', { ...responded, outcome: 'reply_error' }), 1);
  t.equal(
    sample(text, 'brokerkit_messages_consumed_total', { ...responded, outcome: 'ack' }),
    undefined,
    'no delivery outcomes for responders',
  );
  t.equal(sample(text, 'brokerkit_process_duration_seconds_count', responded), 3);
  promtoolCheck(t, text);
});
