// Request / reply on RabbitMQ beyond the contract suite: the topology (exchange, responder queues
// that go with their last responder), plain amqplib clients on either side, and reconnection
// through TCP proxies this file controls (they cut only its own connections, so it runs beside
// other tests).
import t from 'tap';
import { RemoteError, connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { Tally, TcpProxy, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import type { ConsumeMessage } from 'amqplib';
import { responderQueueName, rpcExchangeName } from '../src/rpc.js';
import { DEFAULT_EXCHANGE } from '../src/names.js';
import { RABBIT_HOST, RABBIT_PORT, RABBIT_URL, RawRabbit } from './helpers.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const RPC_EXCHANGE = rpcExchangeName(DEFAULT_EXCHANGE);

async function open(t: Test, url = RABBIT_URL, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(url, options);
  t.teardown(() => broker.close());
  return broker;
}

function proxied(proxy: TcpProxy): string {
  const u = new URL(RABBIT_URL);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.href;
}

function rpcTopic(...suffix: string[]): string {
  return ['bkrpc', uniqueName('r'), ...suffix].join('.');
}

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) {
  const raw = await RawRabbit.open();
  t.teardown(() => raw.close());

  t.test("a group's queue is shared, not durable, and goes with its last member", async (t) => {
    const a = await open(t);
    const b = await open(t);
    const topic = rpcTopic();
    const group = uniqueName('g');
    const queue = responderQueueName(`${topic}.*`, group);
    const subA = await a.respond(`${topic}.*`, () => 'a', { group });
    const subB = await b.respond(`${topic}.*`, () => 'b', { group });
    t.same(await raw.check(queue), { queue, messageCount: 0, consumerCount: 2 }, 'one queue, two consumers');
    await subA.close();
    t.equal((await raw.check(queue))?.consumerCount, 1, 'kept while a member is left');
    t.equal((await a.request(`${topic}.x`, 1, { timeoutMs: 5_000 })).data, 'b', 'the other member answers');
    await subB.close();
    t.equal(await raw.check(queue), undefined, 'deleted with the last member');
    await t.rejects(a.request(`${topic}.x`, 1, { timeoutMs: 5_000 }), { code: 'BK_NO_RESPONDERS' });
  });

  t.test('a plain amqplib client calls a brokerkit responder (direct reply-to)', async (t) => {
    const broker = await open(t);
    const topic = rpcTopic();
    await broker.respond(`${topic}.*`, (m) => {
      if (m.topic.endsWith('.fail')) throw Object.assign(new Error('refused'), { code: 'E_REFUSED' });
      return { got: Buffer.from(m.data as Uint8Array).toString('utf8') };
    });
    const channel = await raw.model.createChannel();
    t.teardown(() => channel.close().catch(() => undefined));
    const replies = new Map<string, ConsumeMessage>();
    await channel.consume(
      'amq.rabbitmq.reply-to',
      (m) => m && replies.set(String(m.properties.correlationId), m),
      {
        noAck: true,
      },
    );
    const ask = (suffix: string, id: string) =>
      channel.publish(RPC_EXCHANGE, `${topic}.${suffix}`, Buffer.from('ada'), {
        replyTo: 'amq.rabbitmq.reply-to',
        correlationId: id,
      });
    ask('ok', 'c1');
    ask('fail', 'c2');
    await waitFor(() => replies.size === 2, { timeoutMs: 5_000, message: 'two replies' });
    const ok = replies.get('c1')!;
    t.equal(ok.properties.contentType, 'application/json', 'the reply has its content type');
    t.same(JSON.parse(ok.content.toString('utf8')), { got: 'ada' }, 'and the answer');
    // What each reply property is for: README, Request / reply.
    t.match(
      ok.properties,
      { correlationId: 'c1', messageId: /^[0-9a-f-]{36}$/, timestamp: Number },
      'its correlation id, a message id and publish time',
    );
    t.equal(ok.properties.deliveryMode, undefined, 'transient: no delivery mode');
    const failed = replies.get('c2')!;
    t.equal(
      failed.properties.headers?.['x-brokerkit-reply'],
      'error',
      'an error reply is marked in a header',
    );
    t.same(JSON.parse(failed.content.toString('utf8')), {
      message: 'refused',
      name: 'Error',
      code: 'E_REFUSED',
    });
  });

  t.test('brokerkit calls a plain amqplib responder', async (t) => {
    const broker = await open(t);
    const topic = rpcTopic();
    const queue = uniqueName('plain-responder');
    const channel = await raw.model.createChannel();
    t.teardown(() => channel.close().catch(() => undefined));
    await channel.assertExchange(RPC_EXCHANGE, 'topic', { durable: true });
    await channel.assertQueue(queue, { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, RPC_EXCHANGE, topic);
    let seen: ConsumeMessage | undefined;
    await channel.consume(queue, (m) => {
      if (!m) return;
      seen = m;
      channel.sendToQueue(m.properties.replyTo as string, Buffer.from(`echo ${m.content.toString('utf8')}`), {
        correlationId: m.properties.correlationId as string,
        contentType: 'text/plain',
      });
      channel.ack(m);
    });
    const reply = await broker.request(topic, 'hi', { timeoutMs: 5_000 });
    t.equal(reply.data, 'echo hi', 'the plain reply, decoded by its content type');
    const expiration = Number(seen?.properties.expiration);
    t.ok(expiration > 0 && expiration <= 5_000, 'the request expires with its timeout', { expiration });
    t.match(
      seen?.properties,
      {
        replyTo: 'amq.rabbitmq.reply-to',
        correlationId: String,
        contentType: 'text/plain',
        messageId: /^[0-9a-f-]{36}$/,
        timestamp: Number,
      },
      'what a plain responder sees: direct reply-to, content type, id and time',
    );
    t.equal(seen?.properties.deliveryMode, undefined, 'transient: no delivery mode');
    t.same(seen?.properties.headers, {}, 'no headers table entries without user headers');
  });

  t.test(
    'through TCP proxies: requests wait out an outage; reply consumer and responder are restored',
    async (t) => {
      // One proxy each: the outage below is the requester's alone, the cut hits both.
      const proxies = await Promise.all([
        TcpProxy.start(RABBIT_HOST, RABBIT_PORT),
        TcpProxy.start(RABBIT_HOST, RABBIT_PORT),
      ]);
      t.teardown(() => Promise.all(proxies.map((p) => p.close())));
      const [toResponder, toRequester] = proxies as [TcpProxy, TcpProxy];
      const options: BrokerOptions = { reconnect: { initialMs: 50, maxMs: 300 } };
      const responder = await open(t, proxied(toResponder), options);
      const requester = await open(t, proxied(toRequester), options);
      for (const b of [responder, requester]) b.on('error', () => undefined);
      const topic = rpcTopic('rc');
      const handled = new Tally();
      await responder.respond<{ k: string }>(
        topic,
        (m) => {
          handled.add(m.data.k);
          return { k: m.data.k };
        },
        { concurrency: 8 },
      );
      t.equal(
        (await requester.request<{ k: string }>(topic, { k: 'before' }, { timeoutMs: 5_000 })).data.k,
        'before',
      );

      const codes: string[] = [];
      let answered = 0;
      let wrong = 0;
      let cut = false;
      let next = 0;
      const lane = async () => {
        while (next < 600) {
          const k = `s-${next++}`;
          if (next === 200 && !cut) {
            cut = true;
            for (const p of proxies) p.cut();
          }
          try {
            const reply = await requester.request<{ k: string }>(topic, { k }, { timeoutMs: 3_000 });
            if (reply.data.k === k) answered++;
            else wrong++;
          } catch (error) {
            codes.push(isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, lane));
      t.ok(cut, 'both connections were cut mid-stream');
      t.equal(wrong, 0, 'no requester got another request’s answer');
      // BK_NO_RESPONDERS too: the requester may be back before the responder's queue is.
      const typed = new Set(['BK_UNAVAILABLE', 'BK_TIMEOUT', 'BK_NO_RESPONDERS']);
      t.same(
        codes.filter((c) => !typed.has(c)),
        [],
        `failed requests are typed (answered ${answered}, failed ${codes.length}: ${[...new Set(codes)].join(', ')})`,
      );

      const down = new Promise<void>((resolve) => requester.once('disconnected', () => resolve()));
      toRequester.pause();
      await down;
      const during = requester.request<{ k: string }>(topic, { k: 'during' }, { timeoutMs: 15_000 });
      const reconnected = new Promise<void>((resolve) => requester.once('reconnected', () => resolve()));
      toRequester.resume();
      await reconnected;
      t.equal((await during).data.k, 'during', 'a request made during the outage is answered after it');
      await waitFor(
        async () => {
          const r = await requester
            .request<{ k: string }>(topic, { k: 'after' }, { timeoutMs: 2_000 })
            .catch(() => undefined);
          return r?.data.k === 'after';
        },
        { timeoutMs: 15_000, message: 'a request after the outage' },
      );
      t.pass('the reply consumer and the responder were restored with their connections');
    },
  );

  t.test('a request in flight when its connection drops ends with BK_UNAVAILABLE at once', async (t) => {
    const proxy = await TcpProxy.start(RABBIT_HOST, RABBIT_PORT);
    t.teardown(() => proxy.close());
    const responder = await open(t);
    const requester = await open(t, proxied(proxy), { reconnect: { initialMs: 50, maxMs: 300 } });
    requester.on('error', () => undefined);
    const topic = rpcTopic();
    let started = false;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    t.teardown(() => release());
    await responder.respond(topic, async () => {
      started = true;
      await held;
      return 'late';
    });
    const pending = requester.request(topic, 'x', { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await waitFor(() => started, { timeoutMs: 5_000, message: 'the responder to start' });
    proxy.cut();
    const error = await pending;
    t.ok(isBrokerkitError(error, 'BK_UNAVAILABLE'), 'BK_UNAVAILABLE, not a 30 s timeout', {
      error: String(error),
    });
    t.notOk(error instanceof RemoteError, 'not a remote error');
  });
}
