// Every read and repair route end to end, against memory and (when built) RabbitMQ and NATS.
import t from 'tap';
import { PermanentError } from '@brokerkit/core';
import type { Broker, QueueInfo } from '@brokerkit/core';
import type { FastifyInstance } from 'fastify';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { sample } from '../../../broker-adapters/metrics/test/prom-text.js';
import { AUTH, adminFor, assertProblem, json } from './app-helpers.js';
import { targets } from './targets.js';

const N = 5;

async function queueInfo(app: FastifyInstance, name: string): Promise<QueueInfo | undefined> {
  const response = await app.inject(`/api/queues/${name}`);
  return response.statusCode === 200 ? json<QueueInfo>(response) : undefined;
}

async function depthIs(app: FastifyInstance, name: string, depth: number): Promise<QueueInfo> {
  let last: QueueInfo | undefined;
  return waitFor(
    async () => {
      last = await queueInfo(app, name);
      return last?.depth === depth ? last : undefined;
    },
    { message: () => `${name} depth ${depth}, last seen ${JSON.stringify(last)}` },
  );
}

function cleanup(t: Tap, broker: Broker, ...names: string[]): void {
  t.teardown(async () => {
    for (const name of names) await broker.inspector?.deleteQueue(name).catch(() => {});
  });
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/**
 * Wait until `name` holds `count` messages, ready or in flight. After replay on NATS a message can
 * sit in flight for a while: a pull request of the closed worker may still be open on the server
 * and take it (redelivered after the ack wait). It is in the queue either way, not lost or doubled.
 */
async function holds(app: FastifyInstance, name: string, count: number): Promise<QueueInfo> {
  let last: QueueInfo | undefined;
  return waitFor(
    async () => {
      last = await queueInfo(app, name);
      return last && last.depth + (last.inFlight ?? 0) === count ? last : undefined;
    },
    { message: () => `${name} holding ${count}, last seen ${JSON.stringify(last)}` },
  );
}

const all = targets(t);

t.test(
  "dead letters: without a limit, peek returns core's default of 10; replay takes them all",
  async (t) => {
    const broker = (await all[0]!.open(t))!;
    const { app } = await adminFor(t, broker);
    const queue = uniqueName('dld');
    const worker = await broker.consume(queue, () => {
      throw new PermanentError('no');
    });
    await Promise.all(Array.from({ length: 12 }, (_, i) => broker.send(queue, i)));
    await depthIs(app, `${queue}.dlq`, 12);
    await worker.close();
    const peek = (query = '') =>
      app
        .inject(`/api/queues/${queue}/dead-letters${query}`)
        .then((r) => json<{ deadLetters: unknown[] }>(r).deadLetters.length);
    t.equal(await peek(), 10, 'no limit: core default');
    t.equal(await peek('?limit=1000'), 12, 'the largest limit is accepted');
    const replay = await app.inject({
      method: 'POST',
      url: `/api/queues/${queue}/dead-letters/replay`,
      headers: AUTH,
    });
    t.same(json(replay), { queue, replayed: 12 });
  },
);

for (const target of all) {
  t.test(target.name, async (t) => {
    t.test('healthz and readyz', async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app } = await adminFor(t, broker);
      const health = await app.inject('/healthz');
      t.equal(health.statusCode, 200);
      t.same(json(health), { status: 'ok' });
      const ready = await app.inject('/readyz');
      t.equal(ready.statusCode, 200);
      t.same(json(ready), { status: 'ready', broker: broker.adapter });
    });

    t.test(`${N} sent messages show as depth ${N} in the API and in /metrics; purge empties`, async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app } = await adminFor(t, broker);
      const queue = uniqueName('depth');
      cleanup(t, broker, queue);
      await Promise.all(Array.from({ length: N }, (_, i) => broker.send(queue, { i })));

      const info = await depthIs(app, queue, N);
      t.match(info, { name: queue, kind: 'queue', depth: N, consumers: 0 });
      const list = json<{ broker: string; status: string; queues: QueueInfo[] }>(
        await app.inject('/api/queues'),
      );
      t.equal(list.broker, broker.adapter);
      t.equal(list.status, 'ready');
      t.match(
        list.queues.find((q) => q.name === queue),
        { kind: 'queue', depth: N },
      );
      await waitFor(
        async () => {
          const text = (await app.inject('/metrics')).body;
          return (
            sample(text, 'brokerkit_queue_depth', { broker: broker.adapter, queue, kind: 'queue' }) === N
          );
        },
        { message: 'brokerkit_queue_depth in /metrics' },
      );
      const metricsText = (await app.inject('/metrics')).body;
      t.equal(sample(metricsText, 'brokerkit_messages_published_total', { destination: queue }), N);

      const purge = await app.inject({ method: 'POST', url: `/api/queues/${queue}/purge`, headers: AUTH });
      t.equal(purge.statusCode, 200);
      t.same(json(purge), { queue, purged: N });
      await depthIs(app, queue, 0);
      const again = await app.inject({ method: 'POST', url: `/api/queues/${queue}/purge`, headers: AUTH });
      t.same(json(again), { queue, purged: 0 }, 'purging an empty queue removes nothing');
    });

    t.test('dead letters: peek shows them, replay moves each back once', async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app } = await adminFor(t, broker);
      const queue = uniqueName('dl');
      cleanup(t, broker, queue);
      let failing = true;
      let handled = 0;
      const worker = await broker.consume<{ i: number }>(queue, () => {
        handled++;
        if (failing) throw new PermanentError('rejected by the test');
      });
      const consumers = await waitFor(async () => ((await queueInfo(app, queue))?.consumers ?? 0) >= 1);
      t.ok(consumers, 'the worker shows as a consumer');
      await Promise.all(
        Array.from({ length: 3 }, (_, i) => broker.send(queue, { i }, { headers: { n: String(i) } })),
      );
      await depthIs(app, `${queue}.dlq`, 3);
      await worker.close();
      failing = false;

      const peek = await app.inject(`/api/queues/${queue}/dead-letters?limit=10`);
      t.equal(peek.statusCode, 200);
      const { deadLetters } = json<{ deadLetters: Array<Record<string, unknown>> }>(peek);
      t.equal(deadLetters.length, 3);
      for (const letter of deadLetters) {
        t.match(letter, {
          topic: queue,
          origin: queue,
          error: /rejected by the test/,
          attempts: 1,
          contentType: /^application\/json/,
          headers: { n: /^[0-2]$/ },
          data: { i: Number },
          body: String,
        });
        t.equal(Buffer.from(letter.body as string, 'base64').toString(), JSON.stringify(letter.data));
      }
      const limited = await app.inject(`/api/queues/${queue}/dead-letters?limit=2`);
      t.equal(json<{ deadLetters: unknown[] }>(limited).deadLetters.length, 2, 'limit applies');
      await depthIs(app, `${queue}.dlq`, 3); // peeking consumed nothing

      const replay = await app.inject({
        method: 'POST',
        url: `/api/queues/${queue}/dead-letters/replay`,
        headers: AUTH,
        payload: {},
      });
      t.equal(replay.statusCode, 200);
      t.same(json(replay), { queue, replayed: 3 });
      await holds(app, queue, 3);
      await depthIs(app, `${queue}.dlq`, 0);
      const twice = await app.inject({
        method: 'POST',
        url: `/api/queues/${queue}/dead-letters/replay`,
        headers: AUTH,
      });
      t.same(json(twice), { queue, replayed: 0 }, 'a second replay moves nothing');
      await holds(app, queue, 3);
      t.equal(handled, 3, 'no handler ran during peek and replay');
    });

    t.test('replay with a limit moves only that many', async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app } = await adminFor(t, broker);
      const queue = uniqueName('dlm');
      cleanup(t, broker, queue);
      const worker = await broker.consume(queue, () => {
        throw new PermanentError('no');
      });
      await Promise.all(Array.from({ length: 4 }, (_, i) => broker.send(queue, i)));
      await depthIs(app, `${queue}.dlq`, 4);
      await worker.close();
      const replay = await app.inject({
        method: 'POST',
        url: `/api/queues/${queue}/dead-letters/replay`,
        headers: AUTH,
        payload: { limit: 1 },
      });
      t.same(json(replay), { queue, replayed: 1 });
      await holds(app, queue, 1);
      await depthIs(app, `${queue}.dlq`, 3);
    });

    t.test('delete removes the queue; unknown names are 404 everywhere', async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app } = await adminFor(t, broker);
      const queue = uniqueName('del');
      cleanup(t, broker, queue);
      await broker.send(queue, 1);
      await depthIs(app, queue, 1);
      const del = await app.inject({ method: 'DELETE', url: `/api/queues/${queue}`, headers: AUTH });
      t.equal(del.statusCode, 204);
      t.equal(del.body, '');
      assertProblem(t, await app.inject(`/api/queues/${queue}`), 404, 'BK_NOT_FOUND');

      const missing = uniqueName('missing');
      assertProblem(t, await app.inject(`/api/queues/${missing}`), 404, 'BK_NOT_FOUND');
      assertProblem(t, await app.inject(`/api/queues/${missing}/dead-letters`), 404, 'BK_NOT_FOUND');
      for (const [method, url] of [
        ['DELETE', `/api/queues/${missing}`],
        ['POST', `/api/queues/${missing}/purge`],
        ['POST', `/api/queues/${missing}/dead-letters/replay`],
      ] as const) {
        assertProblem(t, await app.inject({ method, url, headers: AUTH }), 404, 'BK_NOT_FOUND');
      }
    });
  });
}
