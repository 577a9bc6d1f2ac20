// RabbitMQ-specific topology: what the adapter declares, and how it reacts to conflicts.
import t from 'tap';
import { PermanentError, connect } from '@brokerkit/core';
import { deferred } from '@brokerkit/core/adapter';
import type { Broker, BrokerOptions, Message } from '@brokerkit/core';
import { TcpProxy, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import {
  MANAGEMENT_URL,
  RABBIT_HOST,
  RABBIT_PORT,
  RABBIT_URL,
  RawRabbit,
  apiQueues,
  managementGet,
  managementReachable,
} from './helpers.js';
import type { ApiQueue } from './helpers.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) await suite();

async function suite(): Promise<void> {
  const management = await managementReachable();
  // CI enables the management plugin (.ci/run): the tests that need it must run there.
  if (!management && process.env.CI === 'true')
    t.fail(`management API not reachable at ${MANAGEMENT_URL} (CI=true)`);
  const raw = await RawRabbit.open();
  t.teardown(() => raw.close());

  /** Brokers each test opened: closed before its queues are deleted. */
  const opened = new WeakMap<Tap, Broker[]>();

  /** A broker closed at teardown, its error events collected. */
  async function open(tt: Tap, options: BrokerOptions = {}): Promise<{ broker: Broker; errors: Error[] }> {
    const broker = await connect(RABBIT_URL, options);
    const errors: Error[] = [];
    broker.on('error', (e) => errors.push(e));
    tt.teardown(() => broker.close());
    if (!opened.has(tt)) opened.set(tt, []);
    opened.get(tt)!.push(broker);
    return { broker, errors };
  }

  /** Delete `names` with their companions at teardown. */
  function cleanup(tt: Tap, ...names: string[]): void {
    tt.teardown(async () => {
      // Teardowns run last-registered first: close the test's brokers here, or a consumer still
      // open would declare its queue again when the janitor deletes it.
      await Promise.all((opened.get(tt) ?? []).map((b) => b.close()));
      // With the management API the janitor also finds retry buckets declared by other connections.
      const janitor = await connect(
        RABBIT_URL,
        management ? { rabbitmq: { managementUrl: MANAGEMENT_URL } } : {},
      );
      try {
        for (const name of names) await janitor.inspector!.deleteQueue(name).catch(() => {});
      } finally {
        await janitor.close();
      }
    });
  }

  t.test('an unreachable broker is BK_UNAVAILABLE without the password in the message', async (tt) => {
    const error = (await connect('amqp://guest:s3cret@127.0.0.1:1', { connectTimeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    )) as Error;
    tt.match(error, { code: 'BK_UNAVAILABLE' });
    tt.notMatch(error.message, /s3cret/);
    tt.ok(error.cause, 'the amqplib error is the cause');
  });

  t.test('events: durable topic exchange, ">" matches one or more tokens but not zero', async (tt) => {
    const { broker } = await open(tt);
    await raw.channel((c) => c.checkExchange('brokerkit.events'));
    const root = uniqueName('tp');
    const got: string[] = [];
    await broker.subscribe(`${root}.>`, (m) => void got.push(m.topic));
    await broker.publish(root, { k: 0 });
    await broker.publish(`${root}.a`, { k: 1 });
    await broker.publish(`${root}.a.b`, { k: 2 });
    await waitFor(() => got.length === 2, { message: 'two deliveries' });
    const sentinel = `${root}.end`;
    await broker.publish(sentinel, {});
    await waitFor(() => got.includes(sentinel));
    tt.same(got, [`${root}.a`, `${root}.a.b`, sentinel], 'the bare root token did not match');
  });

  t.test('the exchange is configurable', async (tt) => {
    const exchange = uniqueName('bk-x');
    tt.teardown(() => raw.channel((c) => c.deleteExchange(exchange)));
    const { broker } = await open(tt, { rabbitmq: { exchange } });
    await raw.channel((c) => c.checkExchange(exchange));
    const topic = `${uniqueName('tp')}.x`;
    const got: unknown[] = [];
    await broker.subscribe(topic, (m) => void got.push(m.data));
    await broker.publish(topic, { n: 1 });
    await waitFor(() => got.length === 1);
    tt.same(got, [{ n: 1 }]);
  });

  t.test('a group is a durable queue with a dead-letter queue; messages are persistent', async (tt) => {
    const { broker } = await open(tt);
    const group = uniqueName('g');
    cleanup(tt, group);
    const topic = `${uniqueName('tp')}.created`;
    const sub = await broker.subscribe(topic, () => {}, { group });
    await sub.close();
    const before = Date.now();
    await broker.publish(topic, { n: 1 }, { messageId: 'id-1', headers: { trace: 'abc' } });
    await waitFor(async () => (await raw.check(group))?.messageCount === 1);
    tt.ok(await raw.check(`${group}.dlq`), 'dead-letter queue exists');
    const message = await raw.channel(async (c) => {
      const m = await c.get(group, { noAck: true });
      return m === false ? undefined : m;
    });
    tt.ok(message, 'raw get');
    const p = message!.properties;
    tt.equal(p.deliveryMode, 2, 'persistent');
    tt.equal(p.messageId, 'id-1');
    tt.equal(p.contentType, 'application/json');
    tt.equal(p.headers?.trace, 'abc');
    const ms = Number(p.headers?.['x-brokerkit-ts']);
    tt.ok(ms >= before - 5 && ms <= Date.now(), 'x-brokerkit-ts carries milliseconds');
    tt.equal(p.timestamp, Math.floor(ms / 1000), 'AMQP timestamp in seconds');
    tt.equal(message!.fields.routingKey, topic);
    if (management) {
      const [q] = await apiQueues(group);
      tt.equal(q?.durable, true);
      tt.equal(q?.exclusive, false);
      tt.equal(q?.arguments['x-dead-letter-routing-key'], `_bk.group.${topic}`, 'pattern marker');
    }
  });

  t.test(
    'ephemeral subscriptions: exclusive auto-delete queues, gone after close',
    { skip: !management && 'management API not reachable' },
    async (tt) => {
      const { broker } = await open(tt, { rabbitmq: { connectionName: uniqueName('eph') } });
      const topic = `${uniqueName('tp')}.e`;
      const sub = await broker.subscribe(topic, () => {});
      // Found through its binding: the topic is unique, other tests' queues do not interfere.
      const bindings =
        (await managementGet<Array<{ destination: string; routing_key: string }>>(
          '/api/exchanges/%2F/brokerkit.events/bindings/source',
        )) ?? [];
      const bound = bindings.filter((b) => b.routing_key === topic).map((b) => b.destination);
      tt.equal(bound.length, 1, 'one queue bound with the topic');
      tt.match(bound[0], /^_bk\.sub\.[0-9a-f]{16}$/);
      const created = [await managementGet<ApiQueue>(`/api/queues/%2F/${encodeURIComponent(bound[0]!)}`)];
      tt.match(created[0], { exclusive: true, auto_delete: true, durable: false });
      await sub.close();
      await waitFor(async () => (await raw.check(created[0]!.name)) === undefined, {
        message: 'queue deleted',
      });
    },
  );

  t.test(
    'queueType quorum declares quorum queues for groups, work queues and companions',
    { skip: !management && 'management API not reachable' },
    async (tt) => {
      const { broker } = await open(tt, { rabbitmq: { queueType: 'quorum' } });
      const queue = uniqueName('qq');
      cleanup(tt, queue);
      let attempts = 0;
      await broker.consume(
        queue,
        () => {
          attempts++;
          throw new Error('fail');
        },
        { retry: { attempts: 2, backoff: { initialMs: 30, jitter: false } } },
      );
      await broker.send(queue, { n: 1 });
      await waitFor(async () => (await raw.check(`${queue}.dlq`))?.messageCount === 1, {
        message: 'dead letter',
      });
      tt.equal(attempts, 2);
      const queues = await apiQueues(queue);
      tt.same(queues.map((q) => [q.name, q.type]).sort(), [
        [queue, 'quorum'],
        [`${queue}.dlq`, 'quorum'],
        [`${queue}.retry.30`, 'quorum'],
      ]);
    },
  );

  t.test('a group re-subscribed with another pattern is BK_CONFIG and breaks nothing else', async (tt) => {
    const { broker, errors } = await open(tt);
    const group = uniqueName('g');
    const other = uniqueName('g');
    cleanup(tt, group, other);
    const root = uniqueName('tp');
    const got: string[] = [];
    await broker.subscribe(`${root}.*`, (m) => void got.push(m.topic), { group });
    const bystander: string[] = [];
    await broker.subscribe(`${root}.*`, (m) => void bystander.push(m.topic), { group: other });
    await tt.rejects(
      broker.subscribe(`${root}.>`, () => {}, { group }),
      { code: 'BK_CONFIG' },
    );
    await tt.rejects(
      broker.consume(group, () => {}),
      { code: 'BK_CONFIG' },
      'a group name is not a work queue',
    );
    // The same pattern again is fine (idempotent declaration).
    const again = await broker.subscribe(`${root}.*`, () => {}, { group: other });
    await again.close();
    await broker.publish(`${root}.x`, {});
    await waitFor(() => got.length === 1 && bystander.length === 1, { message: 'both groups still deliver' });
    tt.equal(broker.status, 'ready');
    tt.same(errors, []);
  });

  t.test(
    'a queue that exists with other arguments is BK_CONFIG with the broker error as cause',
    async (tt) => {
      const { broker } = await open(tt);
      const queue = uniqueName('q');
      tt.teardown(() => raw.deleteQueues(queue));
      await raw.channel((c) => c.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 10 } }));
      const error = await broker.consume(queue, () => {}).catch((e: unknown) => e);
      tt.match(error, { code: 'BK_CONFIG', message: /PRECONDITION_FAILED|inequivalent/ });
      tt.match((error as Error).cause, { code: 406 });
      await tt.rejects(broker.send(queue, { n: 1 }), { code: 'BK_CONFIG' });
      tt.equal(broker.status, 'ready', 'the connection survives');
    },
  );

  t.test(
    'retry goes through <q>.retry.<ms> buckets (TTL, dead-letter back), exact attempts, then the DLQ',
    async (tt) => {
      const { broker } = await open(tt);
      const queue = uniqueName('q');
      cleanup(tt, queue);
      const seen: Array<{ attempt: number; redelivered: boolean; at: number }> = [];
      await broker.consume(
        queue,
        (m) => {
          seen.push({ attempt: m.attempt, redelivered: m.redelivered, at: Date.now() });
          throw new Error(`fail ${m.attempt}`);
        },
        { retry: { attempts: 3, backoff: { initialMs: 100, factor: 2, jitter: false } } },
      );
      await broker.send(queue, { n: 1 }, { headers: { user: 'u' } });
      await waitFor(async () => (await raw.check(`${queue}.dlq`))?.messageCount === 1, {
        message: 'dead letter',
      });
      tt.same(
        seen.map((s) => [s.attempt, s.redelivered]),
        [
          [1, false],
          [2, true],
          [3, true],
        ],
      );
      tt.ok(seen[1]!.at - seen[0]!.at >= 95, 'first retry waited ~100 ms');
      tt.ok(seen[2]!.at - seen[1]!.at >= 195, 'second retry waited ~200 ms');
      tt.ok(await raw.check(`${queue}.retry.100`), 'bucket of 100 ms');
      tt.ok(await raw.check(`${queue}.retry.200`), 'bucket of 200 ms');
      const [letter] = await broker.inspector!.peekDeadLetters(queue);
      tt.match(letter, {
        attempts: 3,
        origin: queue,
        error: /fail 3/,
        headers: { user: 'u' },
        data: { n: 1 },
      });
      tt.notOk('x-death' in letter!.headers, 'RabbitMQ bookkeeping stripped');
      if (management) {
        const bucket = (await apiQueues(`${queue}.retry.100`))[0] as ApiQueue;
        tt.match(bucket.arguments, {
          'x-message-ttl': 100,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': queue,
        });
      }
    },
  );

  t.test('PermanentError and undecodable bodies go straight to the DLQ', async (tt) => {
    const { broker } = await open(tt);
    const queue = uniqueName('q');
    cleanup(tt, queue);
    let calls = 0;
    await broker.consume(queue, () => {
      calls++;
      throw new PermanentError('bad order');
    });
    await broker.send(queue, { n: 1 });
    await raw.channel(async (c) => {
      c.sendToQueue(queue, Buffer.from('{not json'), {
        contentType: 'application/json',
        messageId: 'broken',
      });
    });
    await waitFor(async () => (await raw.check(`${queue}.dlq`))?.messageCount === 2, {
      message: 'two dead letters',
    });
    tt.equal(calls, 1, 'handler ran once; the broken body never reached it');
    const letters = await broker.inspector!.peekDeadLetters(queue);
    tt.same(letters.map((l) => [l.attempts, /BK_PERMANENT|BK_DECODE/.exec(l.error)?.[0]]).sort(), [
      [1, 'BK_DECODE'],
      [1, 'BK_PERMANENT'],
    ]);
  });

  t.test('send with delayMs waits at least that long', async (tt) => {
    const { broker } = await open(tt);
    const queue = uniqueName('q');
    cleanup(tt, queue);
    const got: number[] = [];
    await broker.consume(queue, () => void got.push(Date.now()));
    const start = Date.now();
    await broker.send(queue, { n: 1 }, { delayMs: 300 });
    await waitFor(() => got.length === 1);
    tt.ok(got[0]! - start >= 295, `delivered after ${got[0]! - start} ms`);
    tt.ok(await raw.check(`${queue}.retry.512`), 'waited in the 512 ms bucket');
  });

  t.test('oversized messages are BK_PAYLOAD_TOO_LARGE before anything is sent', async (tt) => {
    const { broker } = await open(tt, { rabbitmq: { maxMessageBytes: 1024 } });
    const queue = uniqueName('q');
    cleanup(tt, queue);
    const big = new Uint8Array(2048);
    await tt.rejects(broker.publish('bk.big', big), { code: 'BK_PAYLOAD_TOO_LARGE' });
    await tt.rejects(broker.send(queue, big), { code: 'BK_PAYLOAD_TOO_LARGE' });
    await tt.rejects(broker.publish('bk.big', big, { confirm: false }), { code: 'BK_PAYLOAD_TOO_LARGE' });
    await broker.send(queue, new Uint8Array(1000));
    tt.equal((await raw.check(queue))?.messageCount, 1, 'connection still usable');
  });

  t.test('confirm:false publishes arrive too', async (tt) => {
    const { broker } = await open(tt);
    const topic = `${uniqueName('tp')}.fast`;
    let got = 0;
    await broker.subscribe(topic, () => void got++, { concurrency: 10 });
    await Promise.all(
      Array.from({ length: 500 }, (_, i) => broker.publish(topic, { i }, { confirm: false })),
    );
    await waitFor(() => got === 500, { message: () => `${got} of 500` });
    tt.equal(got, 500);
  });

  t.test("a work queue deleted behind the adapter's back is re-declared on the next send", async (tt) => {
    const { broker } = await open(tt);
    const queue = uniqueName('q');
    cleanup(tt, queue);
    await broker.send(queue, { n: 1 });
    await raw.deleteQueues(queue);
    await broker.send(queue, { n: 2 });
    tt.equal((await raw.check(queue))?.messageCount, 1, 'the second send was not lost');
  });

  t.test(
    'inspector: depth, kinds, purge, peek without consuming, replay once, delete with companions',
    async (tt) => {
      const { broker } = await open(tt);
      const inspector = broker.inspector!;
      const queue = uniqueName('q');
      const group = uniqueName('g');
      cleanup(tt, queue, group);
      const topic = `${uniqueName('tp')}.i`;
      await (await broker.subscribe(topic, () => {}, { group })).close();
      await Promise.all([1, 2, 3].map((n) => broker.send(queue, { n })));
      await broker.publish(topic, { n: 1 });
      tt.match(await inspector.queueInfo(queue), { name: queue, kind: 'queue', depth: 3, consumers: 0 });
      tt.match(await inspector.queueInfo(group), { name: group, kind: 'group', depth: 1, consumers: 0 });
      tt.match(await inspector.queueInfo(`${queue}.dlq`), { kind: 'dlq', depth: 0 });
      // Another process does not know which is which: it still tells groups from queues.
      const { broker: stranger } = await open(tt);
      tt.equal((await stranger.inspector!.queueInfo(group)).kind, 'group');
      tt.equal((await stranger.inspector!.queueInfo(queue)).kind, 'queue');
      await tt.rejects(inspector.queueInfo(uniqueName('nope')), { code: 'BK_NOT_FOUND' });
      await tt.rejects(inspector.purge(uniqueName('nope')), { code: 'BK_NOT_FOUND' });
      await tt.rejects(inspector.deleteQueue(uniqueName('nope')), { code: 'BK_NOT_FOUND' });
      tt.equal(await inspector.purge(group), 1);

      // Dead letters in a known order.
      const failing = await broker.consume(queue, (m: Message) => {
        throw new PermanentError(`no ${(m.data as { n: number }).n}`);
      });
      await waitFor(async () => (await inspector.queueInfo(`${queue}.dlq`)).depth === 3);
      await failing.close();
      const first = await inspector.peekDeadLetters(queue, 2);
      const again = await inspector.peekDeadLetters(queue, 10);
      tt.same(
        first.map((l) => l.data),
        [{ n: 1 }, { n: 2 }],
        'limit respected, oldest first',
      );
      tt.same(
        again.map((l) => l.data),
        [{ n: 1 }, { n: 2 }, { n: 3 }],
        'peeking consumed nothing, order kept',
      );
      tt.equal((await inspector.queueInfo(`${queue}.dlq`)).depth, 3);

      tt.equal(await inspector.replayDeadLetters(queue, { limit: 2 }), 2);
      tt.equal((await inspector.queueInfo(queue)).depth, 2, 'two back on the origin');
      tt.equal((await inspector.queueInfo(`${queue}.dlq`)).depth, 1);
      const replayed: Message[] = [];
      const worker = await broker.consume(queue, (m) => void replayed.push(m));
      await waitFor(() => replayed.length === 2);
      await worker.close();
      tt.same(
        replayed.map((m) => [m.data, m.attempt]),
        [
          [{ n: 1 }, 1],
          [{ n: 2 }, 1],
        ],
        'replayed once each, starting again at attempt 1',
      );

      if (management) {
        const names = (await inspector.listQueues()).map((q) => q.name);
        tt.ok(names.includes(queue) && names.includes(group) && names.includes(`${queue}.dlq`), 'listQueues');
        tt.notOk(
          names.some((n) => n.startsWith('_bk.') || /\.retry\.\d+$/.test(n)),
          'no internal queues listed',
        );
      } else {
        const names = (await inspector.listQueues()).map((q) => q.name);
        tt.ok(names.includes(queue) && names.includes(group), 'listQueues: what this process declared');
      }

      await inspector.deleteQueue(queue);
      tt.equal(await raw.check(queue), undefined);
      tt.equal(await raw.check(`${queue}.dlq`), undefined, 'dead-letter queue deleted with it');
    },
  );

  t.test(
    'in-flight numbers come from the management API',
    { skip: !management && 'management API not reachable' },
    async (tt) => {
      const { broker } = await open(tt, { rabbitmq: { managementUrl: MANAGEMENT_URL } });
      const { broker: plain } = await open(tt);
      const queue = uniqueName('q');
      cleanup(tt, queue);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let started = 0;
      await broker.consume(
        queue,
        async () => {
          started++;
          await held;
        },
        { concurrency: 2 },
      );
      tt.teardown(() => release());
      await Promise.all([1, 2, 3].map((n) => broker.send(queue, { n })));
      await waitFor(() => started === 2);
      const info = await waitFor(
        async () => {
          const i = await broker.inspector!.queueInfo(queue);
          return i.inFlight === 2 ? i : undefined;
        },
        { timeoutMs: 15_000, message: 'inFlight 2 (management statistics refresh every 5 s)' },
      );
      tt.match(info, { depth: 1, consumers: 1, inFlight: 2 });
      tt.equal((await plain.inspector!.queueInfo(queue)).inFlight, null, 'null without managementUrl');
      const listed = await broker.inspector!.listQueues();
      tt.ok(
        listed.some((q) => q.name === queue),
        'listQueues across processes',
      );
      const other = await managementGet<ApiQueue>(`/api/queues/%2F/${encodeURIComponent(queue)}`);
      tt.equal(other?.name, queue);
      release();
    },
  );

  t.test(
    'acks coalesce into multiple acks, never over a delivery still in its handler or settled alone',
    async (tt) => {
      const { broker, errors } = await open(tt);
      const queue = uniqueName('q');
      cleanup(tt, queue);
      const handled = new Map<number, number>();
      const held = deferred();
      tt.teardown(() => held.resolve());
      // The first ten wait at the gate, then the nine after the first finish in one tick.
      const gate = deferred();
      let started = 0;
      await broker.consume<{ n: number }>(
        queue,
        async (m) => {
          started++;
          // The first delivery (tag 1) stays in its handler while the nine after it are acked.
          if (m.data.n === 0) {
            await held.promise;
            throw new PermanentError('the held one fails');
          }
          await gate.promise;
          handled.set(m.data.n, (handled.get(m.data.n) ?? 0) + 1);
        },
        { concurrency: 10, prefetch: 10, retry: { attempts: 1 } },
      );
      for (let n = 0; n < 10; n++) await broker.send(queue, { n });
      await waitFor(() => started === 10, { message: 'all ten in their handlers' });
      gate.resolve();
      await waitFor(() => handled.size === 9, { message: 'nine handled' });
      // Acked by a `multiple` ack that covered tag 1, the held one would now be acked twice
      // (RabbitMQ closes the channel: unknown delivery tag) or lost instead of dead-lettered.
      held.resolve();
      await waitFor(async () => (await raw.check(`${queue}.dlq`))?.messageCount === 1, {
        message: 'the held one dead-lettered',
      });
      // The settled prefix moved past the gap: later deliveries are acked (and coalesced) as usual.
      await Promise.all(Array.from({ length: 40 }, (_, i) => broker.send(queue, { n: 10 + i })));
      await waitFor(() => handled.size === 49, { message: 'all handled' });
      await broker.close();
      tt.equal(
        (await raw.check(queue))?.messageCount,
        0,
        'every handled message was acked: none back in the queue',
      );
      tt.same(
        [...handled.values()].filter((count) => count !== 1),
        [],
        'each handled once (no redelivery)',
      );
      tt.same(errors, [], 'no channel error');
    },
  );

  t.test(
    'a delivery still in its handler when the ones after it were acked is redelivered after a crash',
    async (tt) => {
      const queue = uniqueName('q');
      cleanup(tt, queue);
      const proxy = await TcpProxy.start(RABBIT_HOST, RABBIT_PORT);
      tt.teardown(() => proxy.close());
      const u = new URL(RABBIT_URL);
      u.hostname = '127.0.0.1';
      u.port = String(proxy.port);
      const { broker: direct } = await open(tt);
      const worker = await connect(u.href, { reconnect: { initialMs: 50, maxMs: 500 } });
      worker.on('error', () => {});
      tt.teardown(() => worker.close());
      const held = deferred();
      tt.teardown(() => held.resolve());
      // The nine after it finish together (one tick: their acks coalesce), tag 1 stays held.
      const gate = deferred();
      let started = 0;
      const done = new Set<number>();
      await worker.consume<{ n: number }>(
        queue,
        async (m) => {
          started++;
          await (m.data.n === 0 ? held : gate).promise; // tag 1: never settled before the connection dies
          done.add(m.data.n);
        },
        { concurrency: 10, prefetch: 10 },
      );
      for (let n = 0; n < 10; n++) await direct.send(queue, { n });
      await waitFor(() => started === 10, { message: 'all ten in their handlers' });
      gate.resolve();
      await waitFor(() => done.size === 9, { message: 'the nine after it handled' });
      proxy.pause(); // the worker's connections die with tag 1 unacked
      // Covered by a `multiple` ack of the nine, it would be gone. (Any of the nine whose ack was
      // still on its way may come back too: at-least-once.)
      const again: number[] = [];
      await direct.consume<{ n: number }>(queue, (m) => void again.push(m.data.n));
      await waitFor(() => again.includes(0), { message: 'the held delivery redelivered' });
      tt.pass('the delivery still in its handler was not acked with the others');
    },
  );
}
