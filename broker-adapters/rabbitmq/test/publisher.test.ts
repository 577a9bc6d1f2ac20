// The publisher alone, against the real broker: pipelining and how a refused publish is told
// apart from the publishes sharing its channel.
import t from 'tap';
import { requireService, uniqueName } from '@brokerkit/contract-tests';
import amqp from 'amqplib';
import { ConnectionSupervisor, batchSocketWrites } from '../src/connection.js';
import { resolveBrokerSettings } from '@brokerkit/core/adapter';
import { resolveOptions } from '../src/options.js';
import { Publisher } from '../src/publisher.js';
import { RABBIT_HOST, RABBIT_PORT, RABBIT_URL, RawRabbit } from './helpers.js';

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) {
  const raw = await RawRabbit.open();
  t.teardown(() => raw.close());

  const errors: Error[] = [];
  const hooks = { status: () => {}, error: (e: Error) => void errors.push(e) };
  const options = resolveOptions(resolveBrokerSettings([new URL(RABBIT_URL)], {}, new Set(['rabbitmq'])));
  const supervisor = new ConnectionSupervisor(new URL(RABBIT_URL), options, hooks);
  const publisher = new Publisher(supervisor, options.exchange, 100, hooks);
  supervisor.join(publisher);
  await supervisor.start();
  t.teardown(async () => {
    await publisher.close();
    await supervisor.close();
  });

  t.test('a publish RabbitMQ refuses fails alone; the ones around it are confirmed', async (tt) => {
    const queue = uniqueName('q');
    await raw.channel((c) => c.assertQueue(queue, { durable: false }));
    tt.teardown(() => raw.deleteQueues(queue));
    const send = (n: number, expiration?: string) =>
      publisher.publish(
        {
          exchange: '',
          routingKey: queue,
          content: Buffer.from(String(n)),
          properties: { messageId: String(n), ...(expiration ? { expiration } : {}) },
        },
        true,
        5_000,
      );
    // RabbitMQ closes the channel with 406 PRECONDITION_FAILED on an invalid expiration.
    const results = await Promise.allSettled([
      ...[0, 1, 2, 3, 4].map((n) => send(n)),
      send(5, 'not-a-number'),
      ...[6, 7, 8, 9].map((n) => send(n)),
    ]);
    tt.same(
      results.map((r) => r.status),
      [
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'fulfilled',
      ],
    );
    const refused = results[5] as PromiseRejectedResult;
    tt.match(refused.reason, { code: 'BK_CONFIG', cause: { code: 406 } });
    const ids = await raw.channel(async (c) => {
      const seen: string[] = [];
      for (
        let m = await c.get(queue, { noAck: true });
        m !== false;
        m = await c.get(queue, { noAck: true })
      ) {
        seen.push(String(m.properties.messageId));
      }
      return seen;
    });
    // Publishes routed but not yet confirmed when the channel died were sent again: at-least-once.
    tt.same(
      [...new Set(ids)].sort(),
      ['0', '1', '2', '3', '4', '6', '7', '8', '9'],
      'the nine others arrived',
    );
    tt.comment(`${ids.length - new Set(ids).size} duplicate(s) from re-sending unconfirmed publishes`);
    tt.equal(await send(10), undefined, 'publishing goes on');
    tt.same(errors, []);
  });

  t.test('many publishes are in flight at once (pipelined, not one at a time)', async (tt) => {
    const queue = uniqueName('q');
    await raw.channel((c) => c.assertQueue(queue, { durable: false }));
    tt.teardown(() => raw.deleteQueues(queue));
    let maxPending = 0;
    const all = Array.from({ length: 500 }, (_, n) => {
      const p = publisher.publish(
        { exchange: '', routingKey: queue, content: Buffer.from(String(n)), properties: {} },
        true,
        5_000,
      );
      maxPending = Math.max(maxPending, publisher.pending);
      return p;
    });
    await Promise.all(all);
    tt.equal(maxPending, 500, 'all 500 were sent before the first confirm came back');
    tt.equal(publisher.pending, 0);
    tt.equal((await raw.check(queue))?.messageCount, 500);
  });

  t.test('a burst of frames reaches the socket in a few writes, in order (batchSocketWrites)', async (tt) => {
    const queue = uniqueName('q');
    await raw.channel((c) => c.assertQueue(queue, { durable: false }));
    tt.teardown(() => raw.deleteQueues(queue));
    const model = await amqp.connect(RABBIT_URL, { noDelay: true });
    tt.teardown(() => model.close().catch(() => {}));
    // Fails when an amqplib upgrade moves the internals it relies on (it then changes nothing).
    tt.equal(batchSocketWrites(model), true, 'amqplib internals found');
    const channel = await model.createConfirmChannel();
    const socket = (model as unknown as { connection: { stream: Record<string, unknown> } }).connection
      .stream;
    let writes = 0;
    for (const name of ['_write', '_writev']) {
      const original = socket[name] as (...args: unknown[]) => unknown;
      socket[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    const count = 200;
    for (let n = 0; n < count; n++)
      channel.publish('', queue, Buffer.from(String(n)), { messageId: String(n) });
    await channel.waitForConfirms();
    tt.ok(writes <= 5, `${count} publishes in ${writes} socket write(s), not one each`);
    const ids: string[] = [];
    await raw.channel(async (c) => {
      for (let m = await c.get(queue, { noAck: true }); m; m = await c.get(queue, { noAck: true }))
        ids.push(m.properties.messageId as string);
    });
    tt.same(
      ids,
      Array.from({ length: count }, (_, n) => String(n)),
      'all arrived, in order',
    );
  });
}
