// How brokerkit messages look on the wire (AMQP properties) and how foreign messages read: unit
// checks of message.ts, then interop with a raw amqplib client on the shared RabbitMQ.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { connect, messageIdTime, newMessageId } from '@brokerkit/core/adapter';
import type { Message, OutgoingMessage } from '@brokerkit/core';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import type { Message as AmqpMessage } from 'amqplib';
import { PUBLISHED_AT_HEADER, publishProperties, toRawDelivery } from '../src/message.js';
import { RABBIT_HOST, RABBIT_PORT, RABBIT_URL, RawRabbit } from './helpers.js';

function outgoing(id: string, timestamp: Date, headers: Record<string, string> = {}): OutgoingMessage {
  return {
    id,
    destination: 'a.b',
    data: {},
    body: new Uint8Array(),
    contentType: 'application/json',
    headers,
    timestamp,
  };
}

function delivered(properties: Record<string, unknown>): AmqpMessage {
  return {
    content: Buffer.from('{}'),
    fields: { routingKey: 'a.b', redelivered: false, deliveryTag: 1, exchange: 'x', consumerTag: 'c' },
    properties: { headers: undefined, ...properties },
  } as unknown as AmqpMessage;
}

t.test('own ids carry the publish time: no headers table unless the user gave headers', async (t) => {
  const id = newMessageId();
  const ms = messageIdTime(id)!;
  const bare = publishProperties(outgoing(id, new Date(ms)), false);
  t.equal(bare.headers, undefined, 'no headers property at all');
  t.equal(bare.messageId, id);
  t.equal(bare.timestamp, Math.floor(ms / 1000), 'AMQP timestamp (seconds) stays for foreign consumers');
  t.equal(bare.contentType, 'application/json');
  const withUser = publishProperties(outgoing(id, new Date(ms), { trace: 'abc' }), false);
  t.same(withUser.headers, { trace: 'abc' }, 'only the user headers');

  const back = toRawDelivery(delivered({ messageId: id, timestamp: bare.timestamp }));
  t.equal(back.timestamp?.getTime(), ms, 'the millisecond comes back from the id');
  t.same(back.headers, {});
});

t.test('a user messageId keeps the millisecond header', async (t) => {
  const at = new Date(1_700_000_000_123);
  const p = publishProperties(outgoing('order-42', at), false);
  t.same(p.headers, { [PUBLISHED_AT_HEADER]: '1700000000123' });
  const back = toRawDelivery(
    delivered({ messageId: 'order-42', timestamp: p.timestamp, headers: p.headers }),
  );
  t.equal(back.timestamp?.getTime(), at.getTime());
  // A v7 id of the user's whose time is not the publish time: the header says the publish time.
  const old = '018f3c4e-2b7a-7def-8abc-0123456789ab';
  const p2 = publishProperties(outgoing(old, at), false);
  t.equal(p2.headers?.[PUBLISHED_AT_HEADER], '1700000000123');
  const back2 = toRawDelivery(delivered({ messageId: old, timestamp: p2.timestamp, headers: p2.headers }));
  t.equal(back2.timestamp?.getTime(), at.getTime());
});

t.test('foreign messages: AMQP seconds unless a v7 id agrees with them', async (t) => {
  const v4 = toRawDelivery(delivered({ messageId: randomUUID(), timestamp: 1_700_000_000 }));
  t.equal(v4.timestamp?.getTime(), 1_700_000_000_000, 'v4 id: the AMQP timestamp');
  const foreignV7 = '018f3c4e-2b7a-7def-8abc-0123456789ab';
  const disagrees = toRawDelivery(delivered({ messageId: foreignV7, timestamp: 1_700_000_000 }));
  t.equal(disagrees.timestamp?.getTime(), 1_700_000_000_000, 'a v7 id from another second is not believed');
  const noTimestamp = toRawDelivery(delivered({ messageId: foreignV7 }));
  t.equal(noTimestamp.timestamp?.getTime(), 0x018f3c4e2b7a, 'no AMQP timestamp: the v7 id');
  const nothing = toRawDelivery(delivered({}));
  t.equal(nothing.timestamp, undefined, 'nothing known');
  t.equal(nothing.id, undefined);
});

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) {
  const raw = await RawRabbit.open();
  t.teardown(() => raw.close());

  t.test(
    'a foreign consumer sees a valid message id and publish time; brokerkit the millisecond',
    async (t) => {
      const broker = await connect(RABBIT_URL);
      t.teardown(() => broker.close());
      const queue = uniqueName('wire');
      t.teardown(() => raw.channel((c) => c.deleteQueue(queue)).catch(() => {}));
      const before = Date.now();
      await broker.send(queue, { n: 1 });
      await broker.send(queue, { n: 2 }, { headers: { trace: 'abc' } });
      const got: AmqpMessage[] = [];
      await raw.channel(async (c) => {
        for (let i = 0; i < 2; i++) {
          let m: AmqpMessage | false = false;
          await waitFor(async () => (m = await c.get(queue, { noAck: true })) !== false);
          got.push(m as unknown as AmqpMessage);
        }
      });
      const after = Date.now();
      for (const m of got) {
        const p = m.properties;
        const ms = messageIdTime(p.messageId as string);
        t.ok(ms !== undefined && ms >= before && ms <= after, 'message_id is a UUID v7 of the publish time');
        t.equal(p.timestamp, Math.floor(ms! / 1000), 'AMQP timestamp: the same second');
        t.equal(p.contentType, 'application/json');
        t.equal(p.deliveryMode, 2);
      }
      t.same(got[0]!.properties.headers ?? {}, {}, 'no headers without user headers');
      t.same(got[1]!.properties.headers, { trace: 'abc' }, 'the user headers only');

      // And brokerkit reads its own messages back with millisecond timestamps.
      const seen: Message[] = [];
      await broker.consume(queue, (m) => void seen.push(m));
      await broker.send(queue, { n: 3 });
      await broker.send(queue, { n: 4 }, { messageId: 'user-id-1' });
      await waitFor(() => seen.length === 2);
      t.equal(seen[0]!.timestamp.getTime(), messageIdTime(seen[0]!.id), 'timestamp from the id');
      t.equal(seen[1]!.id, 'user-id-1');
      t.ok(
        seen[1]!.timestamp.getTime() >= before && seen[1]!.timestamp.getTime() <= Date.now(),
        'user id: header time',
      );
      t.same(seen[1]!.headers, {}, 'no bookkeeping headers reach the handler');
    },
  );

  t.test('a foreign publisher without a millisecond header: AMQP seconds or nothing', async (t) => {
    const broker = await connect(RABBIT_URL);
    t.teardown(() => broker.close());
    const queue = uniqueName('wire');
    t.teardown(() => raw.channel((c) => c.deleteQueue(queue)).catch(() => {}));
    const seen: Message[] = [];
    await broker.consume(queue, (m) => void seen.push(m));
    await raw.channel(async (c) => {
      c.sendToQueue(queue, Buffer.from('{"a":1}'), {
        contentType: 'application/json',
        messageId: 'legacy-1',
        timestamp: 1_700_000_000,
      });
      c.sendToQueue(queue, Buffer.from('plain'));
      await waitFor(() => seen.length === 2);
    });
    t.equal(seen[0]!.id, 'legacy-1');
    t.equal(seen[0]!.timestamp.getTime(), 1_700_000_000_000);
    t.same(seen[0]!.data, { a: 1 });
    t.equal(seen[1]!.timestamp.getTime(), 0, 'no time known: the epoch');
  });
}
