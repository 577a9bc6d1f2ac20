// The adapter on the loopback 3-node RabbitMQ cluster, without disturbing it (TCP proxies cut this
// file's own connections only): quorum queues by default with their retry buckets and dead
// letters, the group fingerprint check, inspection through several management APIs, failover in
// the documented node order, and an unreachable cluster.
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, Message } from '@brokerkit/core';
import { TcpProxy, freePort, requireCluster, uniqueName, waitFor } from '@brokerkit/contract-tests';
import type { ClusterInfo } from '@brokerkit/contract-tests';
import { clusterOptions, clusterQueue, management } from './cluster-support.js';
import { MOVER_GRACE_MS } from '../src/bucket-mover.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const info = await requireCluster(t, 'rabbitmq');
if (info) suite(info);

function suite(info: ClusterInfo): void {
  async function open(tt: Tap, options: BrokerOptions = {}, url = info.url): Promise<Broker> {
    const broker = await connect(url, clusterOptions(info, uniqueName('bk-topo'), options));
    broker.on('error', () => {});
    tt.teardown(() => broker.close());
    return broker;
  }

  /** Delete queues (with companions) after the brokers using them closed (teardowns run in reverse). */
  function cleanup(tt: Tap, ...names: string[]): void {
    tt.teardown(async () => {
      const janitor = await connect(info.url, clusterOptions(info, uniqueName('janitor')));
      for (const name of names) await janitor.inspector!.deleteQueue(name).catch(() => {});
      await janitor.close();
    });
  }

  t.test('a cluster URL list makes every durable queue a quorum queue; retries still work', async (tt) => {
    const group = uniqueName('g');
    const queue = uniqueName('q');
    cleanup(tt, group, queue);
    const broker = await open(tt);
    const root = uniqueName('topo');
    const attempts: number[] = [];
    await broker.subscribe(
      `${root}.*`,
      (m: Message) => {
        attempts.push(m.attempt);
        if (m.attempt < 3) throw new Error('not yet');
      },
      { group, retry: { attempts: 5, backoff: { initialMs: 50, factor: 2, jitter: false } } },
    );
    const handled: Message[] = [];
    await broker.consume(queue, (m) => void handled.push(m));
    // An ephemeral subscription is an exclusive classic queue even here (exclusive quorum queues are refused).
    const fanout: Message[] = [];
    await broker.subscribe(`${root}.*`, (m) => void fanout.push(m));

    await broker.publish(`${root}.created`, { n: 1 });
    const sentAt = Date.now();
    await broker.send(queue, { n: 2 }, { delayMs: 300 });
    await waitFor(() => attempts.length === 3 && handled.length === 1 && fanout.length === 1, {
      message: () => `attempts ${attempts.join()}, handled ${handled.length}, fanout ${fanout.length}`,
    });
    tt.same(attempts, [1, 2, 3], 'retried through the buckets, attempt numbers kept');
    tt.ok(Date.now() - sentAt >= 290, 'a delayed send waited in its (quorum) bucket');

    for (const name of [group, `${group}.dlq`, queue, `${queue}.dlq`]) {
      const q = await clusterQueue(info, name);
      tt.equal(q?.type, 'quorum', `${name} is a quorum queue`);
      tt.equal(q?.members?.length, 3, `${name} has a member on every node`);
    }
    for (const name of [`${group}.retry.50`, `${group}.retry.100`]) {
      const q = await clusterQueue(info, name);
      tt.equal(q?.type, 'quorum', `${name} is a quorum queue`);
      tt.match(
        q?.arguments,
        {
          // the delay plus the mover's grace: the broker's TTL is only the fallback (bucket-mover.ts)
          'x-message-ttl': Number(name.split('.').pop()) + MOVER_GRACE_MS,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': group,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
        `${name} dead-letters back at-least-once`,
      );
    }
  });

  t.test('dead letters, peek and replay on quorum queues', async (tt) => {
    const group = uniqueName('g');
    cleanup(tt, group);
    const broker = await open(tt);
    const topic = `${uniqueName('dl')}.x`;
    let fail = true;
    const ok: Message[] = [];
    await broker.subscribe(
      topic,
      (m: Message) => {
        if (fail) throw new Error('boom');
        ok.push(m);
      },
      { group, retry: { attempts: 2, backoff: { initialMs: 20, jitter: false } } },
    );
    await broker.publish(topic, { n: 1 }, { messageId: 'dead-1' });
    const inspector = broker.inspector!;
    await waitFor(async () => (await inspector.queueInfo(`${group}.dlq`)).depth === 1);
    const letters = await inspector.peekDeadLetters(group, 10);
    tt.equal(letters.length, 1);
    tt.equal(letters[0]!.id, 'dead-1');
    tt.match(letters[0]!.error, /boom/);
    tt.equal((await inspector.queueInfo(`${group}.dlq`)).depth, 1, 'peeking consumed nothing');
    fail = false;
    tt.equal(await inspector.replayDeadLetters(group), 1);
    await waitFor(() => ok.length === 1);
    tt.equal(ok[0]!.id, 'dead-1', 'replayed to its group');
    tt.equal(ok[0]!.attempt, 1);
  });

  t.test('a group re-subscribed with another pattern is still refused with BK_CONFIG', async (tt) => {
    const group = uniqueName('g');
    cleanup(tt, group);
    const broker = await open(tt);
    const root = uniqueName('fp');
    await broker.subscribe(`${root}.a`, () => {}, { group });
    await tt.rejects(
      broker.subscribe(`${root}.b`, () => {}, { group }),
      { code: 'BK_CONFIG' },
    );
    await tt.rejects(
      broker.consume(group, () => {}),
      { code: 'BK_CONFIG' },
      'nor used as a work queue',
    );
    await broker.subscribe(`${root}.a`, () => {}, { group });
    tt.pass('the same pattern again is fine');
  });

  t.test('rabbitmq.queueType: classic wins over the cluster default', async (tt) => {
    const queue = uniqueName('q');
    cleanup(tt, queue);
    const broker = await open(tt, { rabbitmq: { queueType: 'classic' } });
    await broker.send(queue, { n: 1 });
    tt.equal((await clusterQueue(info, queue))?.type, 'classic');
  });

  t.test('inspection through a list of management APIs, the first one down', async (tt) => {
    const group = uniqueName('g');
    cleanup(tt, group);
    const dead = await freePort();
    const managementUrl = [`http://guest:guest@127.0.0.1:${dead}`, ...(info.managementUrls ?? [])].join(',');
    const broker = await open(tt, { rabbitmq: { managementUrl } });
    const topic = `${uniqueName('in')}.x`;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    tt.teardown(() => release());
    let started = 0;
    await broker.subscribe(
      topic,
      async () => {
        started++;
        await held;
      },
      { group, concurrency: 2 },
    );
    for (let i = 0; i < 5; i++) await broker.publish(topic, { i });
    await waitFor(() => started === 2);
    const inspector = broker.inspector!;
    // The management numbers refresh every few seconds.
    const infoNow = await waitFor(
      async () => {
        const q = await inspector.queueInfo(group);
        return q.inFlight === 2 ? q : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    tt.match(infoNow, { name: group, kind: 'group', depth: 3, inFlight: 2, consumers: 1 });
    const listed = await inspector.listQueues();
    tt.ok(
      listed.some((q) => q.name === group && q.kind === 'group'),
      'listQueues from the management API',
    );
    tt.ok(listed.some((q) => q.name === `${group}.dlq` && q.kind === 'dlq'));
    release();
  });

  t.test('every node down: connect rejects BK_UNAVAILABLE naming each node, no credentials', async (tt) => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const url = ports
      .map((p, i) => (i === 0 ? `amqp://alice:s3cr3t-pw@127.0.0.1:${p}` : `amqp://127.0.0.1:${p}`))
      .join(',');
    const error = await connect(url, { connectTimeoutMs: 3_000 }).catch((e: unknown) => e);
    tt.ok(isBrokerkitError(error, 'BK_UNAVAILABLE'), String(error));
    const message = (error as Error).message;
    for (const p of ports) tt.match(message, `amqp://127.0.0.1:${p} (`, `names node :${p} and why`);
    tt.notMatch(message, /s3cr3t|alice/, 'no credentials');
  });

  t.test(
    'failover follows the list from the node lost; all down → BK_UNAVAILABLE; back → restored',
    async (tt) => {
      const group = uniqueName('g');
      cleanup(tt, group);
      const proxies = await Promise.all(
        info.urls.map((u) => TcpProxy.start('127.0.0.1', Number(new URL(u).port))),
      );
      tt.teardown(() => Promise.all(proxies.map((p) => p.close())));
      const url = proxies.map((p) => `amqp://guest:guest@127.0.0.1:${p.port}`).join(',');
      const broker = await open(tt, {}, url);
      const disconnects: Array<Error | undefined> = [];
      broker.on('disconnected', (e) => disconnects.push(e));
      const topic = `${uniqueName('fo')}.x`;
      const got = new Set<number>();
      await broker.subscribe(topic, (m: Message) => void got.add((m.data as { n: number }).n), { group });
      const on = () => proxies.findIndex((p) => p.connections === 2);
      let n = 0;
      const roundTrip = async () => {
        const k = n++;
        await broker.publish(topic, { n: k });
        await waitFor(() => got.has(k), { message: `message ${k} after a failover` });
      };

      await roundTrip();
      const first = on();
      tt.ok(first >= 0, 'both connections on one node');
      for (let step = 1; step <= 2; step++) {
        const from = on();
        proxies[from]!.pause();
        await waitFor(() => broker.status === 'ready' && on() !== -1 && on() !== from, { timeoutMs: 15_000 });
        tt.equal(on(), (from + 1) % 3, `step ${step}: moved to the next node of the list`);
        await roundTrip();
      }
      tt.equal(disconnects.length, 2, 'one disconnected event per move');
      tt.ok(
        disconnects.every(
          (e) =>
            e instanceof Error &&
            /^lost the connection to RabbitMQ node amqp:\/\/127\.0\.0\.1:\d+: /.test(e.message),
        ),
        'naming the node, without credentials',
      );

      // The last node goes too: publishes wait, bounded, and say which nodes they waited for.
      proxies[on()]!.pause();
      await waitFor(() => broker.status === 'reconnecting');
      const error = await broker.publish(topic, { n: -1 }, { timeoutMs: 500 }).catch((e: unknown) => e);
      tt.ok(isBrokerkitError(error, 'BK_UNAVAILABLE'), String(error));
      for (const p of proxies) tt.match((error as Error).message, `127.0.0.1:${p.port}`);
      tt.notMatch((error as Error).message, /guest/);

      proxies[first]!.resume();
      await waitFor(() => broker.status === 'ready', { timeoutMs: 15_000 });
      tt.equal(on(), first, 'back on the one node that answers');
      await roundTrip();
    },
  );

  t.test('the start node is random: a fleet of clients spreads over the nodes', async (tt) => {
    const prefix = uniqueName('fleet');
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const broker = await connect(info.url, clusterOptions(info, `${prefix}-${i}`));
        tt.teardown(() => broker.close());
      }),
    );
    type Row = { node: string; client_properties?: { connection_name?: string } };
    const nodes = new Set<string>();
    await waitFor(
      async () => {
        const rows = (await management<Row[]>(info, '/api/connections?columns=node,client_properties')) ?? [];
        nodes.clear();
        for (const r of rows) if (r.client_properties?.connection_name?.startsWith(prefix)) nodes.add(r.node);
        return nodes.size >= 2;
      },
      { timeoutMs: 15_000, intervalMs: 300, message: () => `clients on ${[...nodes].join(', ')}` },
    );
    tt.pass(`12 clients on ${[...nodes].sort().join(', ')}`);
  });
}
