// What a plain NATS client sees of a brokerkit message, and what brokerkit makes of a plain one:
// the message id and publish time travel in `Nats-Msg-Id` (a UUID v7 carries its millisecond).
import t from 'tap';
import { connect, messageIdTime } from '@brokerkit/core/adapter';
import type { Message } from '@brokerkit/core';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Msg } from '@nats-io/transport-node';
import { NATS_HOST, NATS_PORT, NATS_URL, rawClient } from './support/nats.js';

if (await requireService(t, 'NATS', NATS_HOST, NATS_PORT)) {
  t.test(
    'a plain subscriber sees a UUID v7 Nats-Msg-Id of the publish time and the content type',
    async (t) => {
      const { nc } = await rawClient(t);
      const broker = await connect(NATS_URL);
      t.teardown(() => broker.close());
      const topic = `${uniqueName('wire')}.x`;
      const got: Msg[] = [];
      nc.subscribe(topic, { callback: (_e, m) => void got.push(m) });
      await nc.flush();
      const before = Date.now();
      await broker.publish(topic, { n: 1 }, { confirm: false });
      await broker.publish(topic, { n: 2 }, { confirm: false, messageId: 'user-1' });
      await waitFor(() => got.length === 2);
      const after = Date.now();
      const own = got[0]!.headers!;
      const ms = messageIdTime(own.get('Nats-Msg-Id'));
      t.ok(ms !== undefined && ms >= before && ms <= after, 'Nats-Msg-Id: a UUID v7 of the publish time');
      t.equal(own.get('Content-Type'), 'application/json');
      t.equal(own.get('x-brokerkit-timestamp'), '', 'no separate time header');
      t.same(got[0]!.json(), { n: 1 });
      const user = got[1]!.headers!;
      t.equal(user.get('Nats-Msg-Id'), 'user-1');
      const explicit = Number(user.get('x-brokerkit-timestamp'));
      t.ok(explicit >= before && explicit <= Date.now(), 'a user id keeps the explicit publish time');
    },
  );

  t.test('a plain publisher writing content-type in lower case is decoded by it', async (t) => {
    const { nc } = await rawClient(t);
    const broker = await connect(NATS_URL);
    t.teardown(() => broker.close());
    const topic = `${uniqueName('wire')}.x`;
    const seen: Message[] = [];
    await broker.subscribe(topic, (m) => void seen.push(m));
    const h = natsHeaders();
    h.set('content-type', 'application/json');
    h.set('x-trace', 't1');
    nc.publish(topic, JSON.stringify({ n: 7 }), { headers: h });
    await waitFor(() => seen.length === 1);
    t.same(seen[0]!.data, { n: 7 }, 'decoded as JSON');
    t.equal(seen[0]!.contentType, 'application/json');
    t.same(seen[0]!.headers, { 'x-trace': 't1' }, 'content-type is not left among the user headers');
  });

  t.test(
    'brokerkit reads the time from its ids, from the header, or not at all (plain publishers)',
    async (t) => {
      const { nc } = await rawClient(t);
      const broker = await connect(NATS_URL);
      t.teardown(() => broker.close());
      const topic = `${uniqueName('wire')}.x`;
      const seen: Message[] = [];
      await broker.subscribe(topic, (m) => void seen.push(m));
      await broker.publish(topic, 'own', { confirm: false });
      await broker.publish(topic, 'user', { confirm: false, messageId: 'user-2' });
      const h = natsHeaders();
      h.set('Nats-Msg-Id', 'plain-1');
      nc.publish(topic, 'plain', { headers: h });
      await waitFor(() => seen.length === 3);
      const by = (d: string) => seen.find((m) => m.data === d)!;
      t.equal(by('own').timestamp.getTime(), messageIdTime(by('own').id), 'own id: its millisecond');
      t.ok(by('user').timestamp.getTime() > 0, 'user id: the header');
      const plain = seen.find((m) => m.id === 'plain-1')!;
      t.ok(plain, 'the plain message, id from Nats-Msg-Id');
      t.equal(plain.timestamp.getTime(), 0, 'nothing known: the epoch');
    },
  );
}
