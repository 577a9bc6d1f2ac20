// NATS-specific behaviour the contract suite does not cover: the stream and consumer names the
// adapter creates, Nats-Msg-Id de-duplication, max_payload, BK_CONFIG conflicts, interop with
// plain NATS publishers, and that broker-internal subjects never reach a `>` subscription.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, Message } from '@brokerkit/core';
import { Tally, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { RetentionPolicy } from '@nats-io/jetstream';
import {
  consumerName,
  decodeName,
  dlqStreamName,
  encodeName,
  eventStreamName,
  queueStreamName,
} from '../src/names.js';
import { NATS_HOST, NATS_PORT, NATS_URL, deleteStreams, rawClient, streamsOf } from './support/nats.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: Test): Promise<Broker> {
  const broker = await connect(NATS_URL);
  t.teardown(() => broker.close());
  return broker;
}

async function rejectsCode(t: Test, p: Promise<unknown>, code: string, what: string): Promise<unknown> {
  try {
    await p;
    t.fail(`${what}: expected ${code}, resolved`);
    return undefined;
  } catch (error) {
    t.ok(
      isBrokerkitError(error, code as never),
      `${what}: ${code} (got ${(error as { code?: string }).code})`,
    );
    return error;
  }
}

t.test('names encode reversibly', async (t) => {
  t.equal(encodeName('orders.emails'), 'orders-emails');
  t.equal(encodeName('orders-emails'), 'orders_-emails');
  t.equal(encodeName('a_b'), 'a__b');
  for (const name of ['orders.emails', 'orders-emails', 'a_b', 'a_-b.c__d', '_-_', 'x.-_.y']) {
    t.equal(decodeName(encodeName(name)), name, `${name} round-trips`);
    t.notMatch(encodeName(name), /[.*> ]/, `${name} encodes without . * > or space`);
  }
  t.equal(eventStreamName('orders'), 'BK_EV_orders');
  t.equal(queueStreamName('mail.out'), 'BK_Q_mail-out');
  t.equal(dlqStreamName('mail_out'), 'BK_DLQ_mail__out');
});

t.test('an unreachable server: BK_UNAVAILABLE, credentials never in the error', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  try {
    await connect(`nats://user:s3cret@127.0.0.1:${port}`, { connectTimeoutMs: 2_000 });
    t.fail('connected to a closed port');
  } catch (error) {
    t.equal((error as { code?: string }).code, 'BK_UNAVAILABLE');
    t.notMatch(String((error as Error).message), /s3cret/, 'no password in the message');
    t.notMatch(JSON.stringify(error), /s3cret/, 'nor anywhere in the error');
  }
});

t.test('adapter against the shared server', async (t) => {
  if (!(await requireService(t, 'nats-server', NATS_HOST, NATS_PORT))) return;

  t.test('creates the documented streams and consumers', async (t) => {
    const token = uniqueName('tok');
    const group = uniqueName('grp');
    const queue = `${uniqueName('q')}.jobs`;
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group, queue])));
    const broker = await open(t);
    const sub = await broker.subscribe(`${token}.*`, () => undefined, { group });
    const worker = await broker.consume(queue, () => undefined);
    await broker.publish(`${token}.created`, { n: 1 });
    await broker.send(queue, { n: 1 });

    const ev = await jsm.streams.info(`BK_EV_${token.replace(/-/g, '_-')}`);
    t.same(ev.config.subjects, [token, `${token}.>`], 'event stream captures [t, t.>], never >');
    t.equal(ev.config.retention, RetentionPolicy.Interest, 'interest retention');
    t.equal(ev.config.storage, 'file', 'file storage');
    const c = await jsm.consumers.info(ev.config.name, consumerName(group));
    t.equal(c.config.filter_subject, `${token}.*`, 'group consumer filtered by the pattern');
    t.equal(c.config.ack_policy, 'explicit');
    t.equal(c.config.deliver_policy, 'new');
    t.equal(c.config.durable_name, encodeName(group));

    const q = await jsm.streams.info(queueStreamName(queue));
    t.same(q.config.subjects, [`_bk.q.${queue}`], 'queue stream subject');
    t.equal(q.config.retention, RetentionPolicy.Workqueue, 'work-queue retention');
    t.ok(await jsm.consumers.info(q.config.name, consumerName(queue)), 'one shared durable consumer');
    for (const origin of [group, queue]) {
      const d = await jsm.streams.info(dlqStreamName(origin));
      t.same(d.config.subjects, [`_bk.dlq.${origin}`], `dead-letter stream of ${origin}`);
    }
    await sub.close();
    await worker.close();
  });

  t.test('a re-published message id inside the duplicate window is delivered once', async (t) => {
    const token = uniqueName('dup');
    const group = uniqueName('g');
    const queue = uniqueName('dq');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group, queue])));
    const broker = await open(t);
    const events = new Tally();
    const jobs = new Tally();
    await broker.subscribe(`${token}.>`, (m) => events.add(m.id), { group });
    await broker.consume(queue, (m) => jobs.add(m.id));
    for (let i = 0; i < 3; i++) {
      await broker.publish(`${token}.x`, { i }, { messageId: 'same-event' });
      await broker.send(queue, { i }, { messageId: 'same-job' });
    }
    await broker.publish(`${token}.x`, 'end', { messageId: 'end-event' });
    await broker.send(queue, 'end', { messageId: 'end-job' });
    await waitFor(() => events.counts.has('end-event') && jobs.counts.has('end-job'));
    t.same(Object.fromEntries(events.counts), { 'same-event': 1, 'end-event': 1 }, 'events: once each');
    t.same(Object.fromEntries(jobs.counts), { 'same-job': 1, 'end-job': 1 }, 'jobs: once each');
  });

  t.test(
    'payloads over max_payload reject with BK_PAYLOAD_TOO_LARGE; the connection stays usable',
    async (t) => {
      const token = uniqueName('big');
      const queue = uniqueName('bq');
      const { jsm, nc } = await rawClient(t);
      t.teardown(() => deleteStreams(jsm, streamsOf(token, [queue])));
      const broker = await open(t);
      const got = new Tally();
      await broker.subscribe(`${token}.>`, (m: Message) => got.add(String(m.data)));
      const big = new Uint8Array(nc.info!.max_payload + 1);
      for (const [what, attempt] of [
        ['publish', () => broker.publish(`${token}.a`, big)],
        ['publish confirm:false', () => broker.publish(`${token}.a`, big, { confirm: false })],
        ['send', () => broker.send(queue, big)],
      ] as const) {
        const error = await rejectsCode(t, attempt(), 'BK_PAYLOAD_TOO_LARGE', what);
        t.equal(
          (error as Error).cause instanceof Error && (error as Error & { cause: Error }).cause.name,
          'InvalidArgumentError',
          `${what}: the client's error is the cause`,
        );
      }
      t.equal(broker.status, 'ready', 'still ready');
      await broker.publish(`${token}.a`, 'after');
      await broker.send(queue, 'after');
      await waitFor(() => got.counts.has('after'));
      t.pass('a normal publish after the rejected ones is delivered');
    },
  );

  t.test('conflicting configuration is BK_CONFIG', async (t) => {
    const token = uniqueName('cfg');
    const other = uniqueName('oth');
    const foreign = uniqueName('frn');
    const group = uniqueName('g');
    const queue = uniqueName('q');
    const { jsm } = await rawClient(t);
    t.teardown(() =>
      deleteStreams(jsm, [
        ...streamsOf(token, [group, queue]),
        ...streamsOf(other, []),
        eventStreamName(foreign),
        `FOREIGN_${foreign}`,
      ]),
    );
    const broker = await open(t);
    const sub = await broker.subscribe(`${token}.a`, () => undefined, { group });
    await rejectsCode(
      t,
      broker.subscribe(`${token}.b`, () => undefined, { group }),
      'BK_CONFIG',
      'same stream, other pattern',
    );
    await rejectsCode(
      t,
      broker.subscribe(`${other}.a`, () => undefined, { group }),
      'BK_CONFIG',
      'other first token',
    );
    await rejectsCode(
      t,
      broker.consume(group, () => undefined),
      'BK_CONFIG',
      'a queue named like a group',
    );
    const again = await broker.subscribe(`${token}.a`, () => undefined, { group });
    t.pass('same group, same pattern: joins');
    await again.close();
    await sub.close();

    await broker.send(queue, 1);
    await rejectsCode(
      t,
      broker.subscribe(`${token}.x`, () => undefined, { group: queue }),
      'BK_CONFIG',
      'a group named like a queue',
    );

    // A stream someone else made under brokerkit's name, with other retention.
    await jsm.streams.add({
      name: eventStreamName(foreign),
      subjects: [foreign, `${foreign}.>`],
      retention: RetentionPolicy.Limits,
    });
    await rejectsCode(
      t,
      broker.publish(`${foreign}.a`, 1),
      'BK_CONFIG',
      'existing stream with other retention',
    );
    await jsm.streams.delete(eventStreamName(foreign));
    // A foreign stream capturing the subjects brokerkit needs.
    await jsm.streams.add({ name: `FOREIGN_${foreign}`, subjects: [`${foreign}.>`] });
    await rejectsCode(t, broker.publish(`${foreign}.b`, 1), 'BK_CONFIG', 'overlapping foreign stream');
    t.equal(broker.status, 'ready');
  });

  t.test('a plain NATS publish reaches groups and ephemeral subscribers', async (t) => {
    const token = uniqueName('raw');
    const group = uniqueName('g');
    const { jsm, nc } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group])));
    const broker = await open(t);
    const grouped: Message[] = [];
    const live: Message[] = [];
    await broker.subscribe(`${token}.*`, (m) => void grouped.push(m), { group });
    await broker.subscribe(`${token}.*`, (m) => void live.push(m));
    const h = natsHeaders();
    h.set('Content-Type', 'application/json');
    h.set('x-app', 'raw');
    nc.publish(`${token}.hello`, JSON.stringify({ hi: 1 }), { headers: h });
    nc.publish(`${token}.bytes`, 'no headers');
    await waitFor(() => grouped.length === 2 && live.length === 2);
    for (const list of [grouped, live]) {
      const json = list.find((m) => m.topic === `${token}.hello`)!;
      t.same(json.data, { hi: 1 }, 'decoded by its Content-Type');
      t.same(json.headers, { 'x-app': 'raw' }, 'user headers only');
      const bytes = list.find((m) => m.topic === `${token}.bytes`)!;
      t.equal(bytes.contentType, 'application/octet-stream', 'no Content-Type: bytes');
    }
  });

  t.test('broker-internal subjects never reach a ">" subscription', async (t) => {
    const queue = uniqueName('iq');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(undefined, [queue])));
    const broker = await open(t);
    const internal: string[] = [];
    await broker.subscribe('>', (m) => {
      if (m.topic.startsWith('_') || m.topic.startsWith('$')) internal.push(m.topic);
    });
    const done = new Tally();
    await broker.consume(queue, (m) => done.add(String(m.data)), { retry: { attempts: 1 } });
    await broker.send(queue, 'a');
    await waitFor(() => done.total === 1);
    await broker.inspector!.queueInfo(queue);
    t.same(internal, [], 'no _bk, _INBOX or $JS subject delivered');
  });

  t.test('consumers are counted across connections', async (t) => {
    const queue = uniqueName('cq');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(undefined, [queue])));
    const a = await open(t);
    const b = await open(t);
    const admin = await open(t);
    const wa = await a.consume(queue, () => undefined);
    const wb = await b.consume(queue, () => undefined);
    const count = async () => (await admin.inspector!.queueInfo(queue)).consumers;
    // Polled: a member that answers late under load is counted on the next look.
    await waitFor(async () => (await count()) === 2, { message: 'two workers in two connections' });
    t.pass('two workers in two connections');
    await wa.close();
    await waitFor(async () => (await count()) === 1, { message: 'one left' });
    t.pass('one left');
    await wb.close();
    t.equal(await count(), 0, 'none');
  });
});
