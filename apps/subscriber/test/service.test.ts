// The subscriber service in-process on a named memory:// broker, which every connection in this
// process shares: the test publishes from its own connection and watches the service's counters,
// record file, HTTP endpoints and drain.
import t from 'tap';
import { join } from 'node:path';
import { connect, type Broker } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { parseSubscriberConfig, type SubscriberConfig } from '../src/config.js';
import { startSubscriber } from '../src/service.js';
import { metrics } from '@brokerkit/metrics';
import { buildHttpApp, type Readiness } from '../src/http.js';
import { createWorkHandler } from '../src/worker.js';
import { readRecord } from './support.js';

function config(argv: string[]): SubscriberConfig {
  const parsed = parseSubscriberConfig([...argv, '--port', '0', '--report-every', '0'], {});
  if (parsed.help) throw new Error('unexpected help');
  return parsed;
}

async function publisherFor(t: { teardown(fn: () => unknown): void }, url: string): Promise<Broker> {
  const broker = await connect(url);
  t.teardown(() => broker.close());
  return broker;
}

t.test('groups and queues handle every message once; record, readyz, metrics', async (t) => {
  const url = `memory://${uniqueName('svc')}`;
  const record = join(t.testdir({}), 'record.tsv');
  const lines: string[] = [];
  const service = await startSubscriber(
    config([
      '--url',
      url,
      '--group',
      'billing:orders.>',
      '--queue',
      'emails',
      '--concurrency',
      '4',
      '--record',
      record,
    ]),
    { print: (line) => lines.push(line) },
  );
  t.teardown(() => service.close());
  t.match(lines, [
    /^listening on http:\/\/127\.0\.0\.1:\d+ /,
    /^ready: 2 subscription\(s\) on memory:\/\/svc-.*: group billing \(orders\.>\), queue emails$/,
  ]);

  const ready = await service.app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ready', broker: 'memory' });
  t.equal((await service.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);

  const pub = await publisherFor(t, url);
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 100 }, (_, i) => {
      ids.push(`e-${i}`, `j-${i}`);
      return Promise.all([
        pub.publish(i % 2 ? 'orders.created' : 'orders.paid', { i }, { messageId: `e-${i}` }),
        pub.send('emails', { i }, { messageId: `j-${i}` }),
      ]);
    }),
  );
  await waitFor(() => service.counters.handled === 200, {
    message: () => `handled ${service.counters.handled}`,
  });
  await waitFor(() => readRecord(record).lines === 200, { message: 'record file incomplete' });
  const recorded = readRecord(record);
  t.equal(recorded.ids.size, 200, 'every message recorded once');
  t.same(recorded.ids, new Set(ids));

  const res = await service.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(
    res.body,
    /brokerkit_messages_consumed_total\{broker="memory",destination="orders\.>",group="billing",outcome="ack"\} 100\n/,
  );
  t.match(
    res.body,
    /brokerkit_messages_consumed_total\{broker="memory",destination="emails",group="",outcome="ack"\} 100\n/,
  );
  t.match(res.body, /brokerkit_queue_depth\{broker="memory",queue="billing",kind="group"\} 0\n/);

  await service.close();
  t.equal(service.broker.status, 'closed');
});

t.test('failure rate 1: every attempt fails, then the message is dead-lettered', async (t) => {
  const url = `memory://${uniqueName('svc')}`;
  const service = await startSubscriber(
    config(['--url', url, '--queue', 'jobs', '--failure-rate', '1', '--attempts', '3', '--backoff-ms', '1']),
    { print: () => {} },
  );
  t.teardown(() => service.close());
  const pub = await publisherFor(t, url);
  await Promise.all(Array.from({ length: 10 }, (_, i) => pub.send('jobs', { i })));
  const inspector = pub.inspector!;
  await waitFor(async () => (await inspector.queueInfo('jobs.dlq')).depth === 10, {
    message: 'dead letters',
  });
  t.equal(service.counters.failed, 30, '3 attempts each');
  t.equal(service.counters.handled, 0);
  const [dead] = await inspector.peekDeadLetters('jobs', 1);
  t.match(dead!.error, /SimulatedFailure: simulated failure of message .* \(attempt 3\)/);
  t.equal(dead!.attempts, 3);
});

t.test('close() drains: a handler in flight finishes and is recorded; readyz turns 503 first', async (t) => {
  const url = `memory://${uniqueName('svc')}`;
  const record = join(t.testdir({}), 'record.tsv');
  const service = await startSubscriber(
    config(['--url', url, '--queue', 'slow', '--work-ms', '300', '--record', record]),
    {
      print: () => {},
    },
  );
  const pub = await publisherFor(t, url);
  await pub.send('slow', 'x', { messageId: 'slow-1' });
  // The handler is running once the queue shows the message in flight.
  await waitFor(async () => (await pub.inspector!.queueInfo('slow')).inFlight === 1);
  const closing = service.close();
  const during = await service.app.inject({ method: 'GET', url: '/readyz' });
  t.equal(during.statusCode, 503);
  t.match(during.headers['content-type'], /^application\/problem\+json/);
  t.match(during.json(), { code: 'BK_UNAVAILABLE', detail: 'the subscriber is draining' });
  await closing;
  t.equal(service.counters.handled, 1, 'the in-flight handler finished');
  t.same([...readRecord(record).ids], ['slow-1']);
  t.equal((await pub.inspector!.queueInfo('slow')).depth, 0, 'acked, not left for redelivery');
});

t.test('readyz follows the service: 503 problem while starting and draining, 200 in between', async (t) => {
  const broker = await publisherFor(t, `memory://${uniqueName('http')}`);
  const m = metrics();
  broker.use(m);
  let state: Readiness = 'starting';
  const app = buildHttpApp({ broker, metrics: m, readiness: () => state });
  t.teardown(() => app.close());
  const readyz = async () => {
    const response = await app.inject('/readyz');
    return { status: response.statusCode, body: response.json() };
  };
  t.match(await readyz(), {
    status: 503,
    body: { code: 'BK_UNAVAILABLE', detail: 'the subscriber is starting' },
  });
  state = 'ready';
  t.same(await readyz(), { status: 200, body: { status: 'ready', broker: 'memory' } });
  state = 'draining';
  t.match(await readyz(), {
    status: 503,
    body: { code: 'BK_UNAVAILABLE', detail: 'the subscriber is draining' },
  });
  t.equal((await app.inject('/healthz')).statusCode, 200, 'alive throughout');
});

t.test('the work handler: simulated time range and failure rate use the injected random', async (t) => {
  const counters = { handled: 0, failed: 0 };
  const values = [0.5, 0.9, 0, 0.05];
  const handler = createWorkHandler({
    work: { minMs: 0, maxMs: 0 },
    failureRate: 0.1,
    counters,
    random: () => values.shift()!,
  });
  const msg = { id: 'm', attempt: 1 } as never;
  await handler(msg); // 0.5 >= 0.1: success
  await handler(msg); // 0.9: success
  await t.rejects(async () => handler(msg), { name: 'SimulatedFailure' }); // 0 < 0.1
  await t.rejects(async () => handler(msg), { name: 'SimulatedFailure' }); // 0.05 < 0.1
  t.same(counters, { handled: 2, failed: 2 });
});

t.test('discarded messages: the first is printed, the rest only counted', async (t) => {
  const url = `memory://${uniqueName('svc')}`;
  const lines: string[] = [];
  const service = await startSubscriber(
    config(['--url', url, '--subscribe', 'tap.>', '--failure-rate', '1', '--attempts', '1']),
    { print: (line) => lines.push(line) },
  );
  t.teardown(() => service.close());
  const pub = await publisherFor(t, url);
  await Promise.all(Array.from({ length: 5 }, (_, i) => pub.publish('tap.x', { i })));
  await waitFor(() => service.counters.failed === 5);
  await waitFor(() => lines.some((l) => l.startsWith('broker error')));
  const errors = lines.filter((l) => l.startsWith('broker error'));
  t.equal(errors.length, 1, 'one line, not one per message');
  t.match(
    errors[0],
    /^broker error \[BK_DISCARDED\]: message .* discarded after 1 attempt\(s\): simulated failure/,
  );
});
