// Issue #13: replication defaults on a 3-node cluster (what the adapter creates, what the
// `nats.replicas` and `nats.eventRetention` options change) and the inspector answering alike from every node (the
// JetStream API and the presence probes are cluster-wide).
import t from 'tap';
import { connect } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { RetentionPolicy } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { consumerName, dlqStreamName, eventStreamName, queueStreamName } from '../../src/names.js';
import { DEFAULT_EVENT_MAX_AGE_MS } from '../../src/options.js';
import { deleteClusterStreams, natsCluster, rawClusterClient, waitHealthy } from '../cluster-support.js';
// Brings the `nats` key of connect options into scope (declaration merging).
import type { NatsOptions } from '../../src/index.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: Test, url: string, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(url, options);
  t.teardown(() => broker.close());
  return broker;
}

t.test('replicas and inspection on the 3-node cluster', async (t) => {
  const cluster = await natsCluster(t);
  if (!cluster) return;
  const { jsm } = await rawClusterClient(t, cluster);
  await waitHealthy(cluster, jsm);

  t.test('a URL list replicates every stream brokerkit creates; consumers inherit', async (t) => {
    const token = uniqueName('clr');
    const group = uniqueName('g');
    const queue = uniqueName('q');
    const streams = [
      eventStreamName(token),
      dlqStreamName(group),
      queueStreamName(queue),
      dlqStreamName(queue),
    ];
    t.teardown(() => deleteClusterStreams(jsm, streams));
    const broker = await open(t, cluster.urls);
    await broker.subscribe(`${token}.*`, () => undefined, { group });
    await broker.consume(queue, () => undefined);
    for (const s of streams) {
      const info = await jsm.streams.info(s);
      t.equal(info.config.num_replicas, 3, `${s}: 3 replicas`);
      t.equal(info.cluster?.replicas?.length, 2, `${s}: a leader and two followers`);
    }
    // Replicated event streams keep messages by age, not by interest (README, Clusters).
    const ev = (await jsm.streams.info(eventStreamName(token))).config;
    t.same(
      [ev.retention, ev.max_age, ev.max_bytes],
      [RetentionPolicy.Limits, nanos(DEFAULT_EVENT_MAX_AGE_MS), -1],
      'the event stream: limits retention, 7 days, no byte limit',
    );
    for (const [stream, name] of [
      [eventStreamName(token), consumerName(group)],
      [queueStreamName(queue), consumerName(queue)],
    ] as const) {
      const c = await jsm.consumers.info(stream, name);
      t.equal(c.config.num_replicas ?? 0, 0, `consumer ${name}: replicas inherited from its stream`);
      t.equal(c.cluster?.replicas?.length, 2, `consumer ${name}: replicated like its stream`);
    }
  });

  t.test('nats.replicas wins; two URLs get 2; one URL keeps 1 (and interest event streams)', async (t) => {
    const cases: Array<[string, string, NatsOptions | undefined, number]> = [
      ['replicas: 1 on the list', cluster.urls, { replicas: 1 }, 1],
      ['eventRetention: interest on the list', cluster.urls, { eventRetention: 'interest' }, 3],
      [
        'two URLs',
        cluster.nodes
          .slice(0, 2)
          .map((n) => n.url)
          .join(','),
        undefined,
        2,
      ],
      ['one URL', cluster.nodes[0]!.url, undefined, 1],
    ];
    for (const [what, url, nats, replicas] of cases) {
      const queue = uniqueName('qr');
      const token = uniqueName('clr');
      t.teardown(() => deleteClusterStreams(jsm, [queueStreamName(queue), eventStreamName(token)]));
      const broker = await open(t, url, nats ? { nats } : undefined);
      await broker.send(queue, 'x');
      await broker.publish(`${token}.x`, 'x');
      t.equal(
        (await jsm.streams.info(queueStreamName(queue))).config.num_replicas,
        replicas,
        `${what}: ${replicas}`,
      );
      const ev = (await jsm.streams.info(eventStreamName(token))).config;
      const retention =
        nats?.eventRetention ?? (replicas > 1 ? RetentionPolicy.Limits : RetentionPolicy.Interest);
      t.same(
        [ev.num_replicas, ev.retention],
        [replicas, retention],
        `${what}: event stream ${replicas}, ${retention}`,
      );
    }
  });

  t.test('depth, in-flight and consumers read alike from every node', async (t) => {
    const token = uniqueName('cli');
    const group = uniqueName('g');
    const queue = uniqueName('q');
    t.teardown(() =>
      deleteClusterStreams(jsm, [
        eventStreamName(token),
        dlqStreamName(group),
        queueStreamName(queue),
        dlqStreamName(queue),
      ]),
    );
    const broker = await open(t, cluster.urls, { nats: { ackWaitMs: 60_000 } });
    // Two members, each holding 2 messages in handlers that wait; the rest is depth.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    t.teardown(() => release());
    let holding = 0;
    const hold = async () => {
      holding++;
      await held;
    };
    const member2 = await open(t, cluster.urls, { nats: { ackWaitMs: 60_000 } });
    for (const b of [broker, member2]) {
      await b.subscribe(`${token}.*`, hold, { group, concurrency: 2, prefetch: 2 });
      await b.consume(queue, hold, { concurrency: 2, prefetch: 2 });
    }
    for (let i = 0; i < 20; i++) {
      await broker.publish(`${token}.x`, { i });
      await broker.send(queue, { i });
    }
    await waitFor(() => holding === 8, { message: () => `8 handlers holding (have ${holding})` });
    // One inspecting broker per node, each connected to that node alone.
    for (const node of cluster.nodes) {
      const inspector = (await open(t, node.url)).inspector!;
      for (const name of [group, queue]) {
        const info = await waitFor(
          async () => {
            const i = await inspector.queueInfo(name);
            return i.depth === 16 && i.inFlight === 4 && i.consumers === 2 ? i : undefined;
          },
          { timeoutMs: 10_000, intervalMs: 200, message: `${name} from ${node.name}` },
        );
        t.match(info, { name, depth: 16, inFlight: 4, consumers: 2 }, `${name} from ${node.name}`);
      }
      const names = (await inspector.listQueues()).map((q) => q.name);
      t.ok(names.includes(group) && names.includes(queue), `listQueues on ${node.name} lists both`);
    }
    release();
  });
});
