/**
 * The loopback test clusters of scripts/cluster.sh: `ensureCluster` starts (or finds) three
 * RabbitMQ nodes in one cluster and three JetStream nats-servers with one meta group, and the
 * leader helpers name a node of it. Read-only towards the other tests sharing the clusters (no
 * node is killed here; fault tests do that).
 */
import t from 'tap';
import amqp from 'amqplib';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  metaLeader,
  quorumQueueLeader,
  rabbitmqctl,
  requireCluster,
  streamLeader,
  uniqueName,
  waitFor,
} from '../src/index.js';

t.test('rabbitmq: three running nodes in one cluster, each serving AMQP and management', async (t) => {
  const cluster = await requireCluster(t, 'rabbitmq');
  if (!cluster) return;
  t.equal(cluster.nodes, 3, '3 nodes');
  t.equal(cluster.url, cluster.urls.join(','), 'url is the comma-joined list');
  t.equal(new Set(cluster.urls).size, 3, 'one AMQP port per node');

  const status = JSON.parse(await rabbitmqctl(1, ['cluster_status', '--formatter', 'json'])) as {
    running_nodes: string[];
  };
  t.same(
    status.running_nodes.sort(),
    ['bk1@localhost', 'bk2@localhost', 'bk3@localhost'],
    'cluster_status: 3 running',
  );

  for (const [i, url] of cluster.urls.entries()) {
    const conn = await amqp.connect(url);
    const props = conn.connection.serverProperties as { cluster_name?: string };
    t.equal(
      props.cluster_name,
      'brokerkit-test',
      `node ${i + 1} (${url.replace(/\/\/[^@]*@/, '//')}) answers AMQP`,
    );
    await conn.close();
  }

  // A quorum queue has a leader on one of the three nodes.
  const queue = uniqueName('cluster-qq');
  const conn = await amqp.connect(cluster.urls[0]!);
  t.teardown(() => conn.close().catch(() => undefined));
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  t.teardown(() => ch.deleteQueue(queue).catch(() => undefined));
  const leader = await waitFor(() => quorumQueueLeader(cluster, queue), {
    timeoutMs: 15_000,
    intervalMs: 200,
  });
  t.ok(leader >= 1 && leader <= 3, `quorum queue leader is node ${leader}`);
});

t.test('nats: three JetStream servers in one cluster, each answering JetStream', async (t) => {
  const cluster = await requireCluster(t, 'nats');
  if (!cluster) return;
  t.equal(cluster.nodes, 3, '3 nodes');
  t.equal(new Set(cluster.urls).size, 3, 'one client port per node');

  for (const [i, url] of cluster.urls.entries()) {
    const nc = await natsConnect({ servers: url, reconnect: false });
    try {
      t.equal(nc.info?.cluster, 'bkc', `node ${i + 1} is in cluster bkc`);
      t.equal(nc.info?.server_name, `bk${i + 1}`, `node ${i + 1} is server bk${i + 1}`);
      const account = await (await jetstreamManager(nc)).getAccountInfo();
      t.ok(account.limits, `node ${i + 1} answers $JS.API.INFO`);
    } finally {
      await nc.close();
    }
  }
  const meta = await metaLeader(cluster);
  t.ok(meta !== undefined && meta >= 1 && meta <= 3, `JetStream meta leader is node ${meta}`);

  // A stream with 3 replicas has a leader on one of the three servers.
  const nc = await natsConnect({ servers: cluster.urls });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const name = uniqueName('cluster_r3').replace(/-/g, '_');
  await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 3 });
  t.teardown(() => jsm.streams.delete(name).catch(() => false));
  const info = await jsm.streams.info(name);
  t.equal(info.config.num_replicas, 3, 'R3 stream');
  t.equal((info.cluster?.replicas ?? []).length, 2, 'two followers');
  const leader = await waitFor(() => streamLeader(cluster, name), { timeoutMs: 15_000, intervalMs: 200 });
  t.equal(`bk${leader}`, info.cluster?.leader, `stream leader is node ${leader}, as STREAM.INFO says`);
});
