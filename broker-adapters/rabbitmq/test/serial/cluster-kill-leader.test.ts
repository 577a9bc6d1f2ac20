// kill -9 of the node leading the group's (and the work queue's) quorum queue while the broker's
// connections are on another node: an election, no reconnection. 0 confirmed lost, only typed
// failures, consumers go on by themselves. Serial: it kills a node every cluster user shares.
import t from 'tap';
import amqp from 'amqplib';
import { quorumQueueLeader, requireCluster, waitFor } from '@brokerkit/contract-tests';
import { DEFAULT_EXCHANGE } from '../../src/names.js';
import { declareGroupQueue, declareWorkQueue } from '../../src/topology.js';
import { Load, connectionNodes, healCluster, killNodeTimed, waitQueueOnline } from '../cluster-support.js';

const info = await requireCluster(t, 'rabbitmq');
if (info) {
  t.test('kill -9 the quorum leader under load: 0 confirmed lost, no reconnect needed', async (tt) => {
    let leader: number | undefined;
    let killed: number | undefined;
    const load = await Load.open({
      info,
      failEvery: 7,
      // Declare the group and the work queue on a node the broker is not connected to, so that
      // node leads them (RabbitMQ puts a new quorum queue's leader on the declaring node).
      beforeSubscribe: async ({ group, queue, topic, connectionName }) => {
        const on = (await connectionNodes(info, connectionName)).consuming;
        leader = (on % info.nodes) + 1;
        const model = await amqp.connect(info.urls[leader - 1]!);
        try {
          const channel = await model.createChannel();
          await channel.assertExchange(DEFAULT_EXCHANGE, 'topic', { durable: true });
          await declareGroupQueue(channel, group, topic, DEFAULT_EXCHANGE, 'quorum');
          await declareWorkQueue(channel, queue, 'quorum');
        } finally {
          await model.close();
        }
      },
    });
    try {
      const before = await connectionNodes(info, load.connectionName);
      tt.equal(await quorumQueueLeader(info, load.group), leader, 'the group is led by another node');
      tt.not(before.consuming, leader, 'than the consuming connection');
      tt.not(before.publishing, leader, 'and the publishing one');

      load.start();
      await load.untilConfirmed(400);
      killed = leader!;
      load.fault(await killNodeTimed(killed));
      await load.untilConfirmedAfterFault(400);
      await load.stop();
      await load.drain();
      const report = await load.fullReport();
      const newLeader = await waitFor(() => quorumQueueLeader(info, load.group), { timeoutMs: 10_000 });
      tt.comment(JSON.stringify(report));
      tt.comment(
        `failover: kill -9 of node ${killed} (group and queue leader) → new leader node ${newLeader}, ` +
          `first confirmed publish after ${report.firstConfirmAfterFaultMs} ms, first delivery after ${report.firstDeliveryAfterFaultMs} ms`,
      );

      tt.not(newLeader, killed, 'another node leads the group now');
      tt.equal(report.lost, 0, 'no confirmed message lost');
      tt.equal(report.confirmed + report.failed, report.attempted, 'every publish settled');
      for (const code of Object.keys(report.failureCodes))
        tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
      tt.ok(report.retried > 0, 'messages went through the (quorum) retry buckets');
      tt.same(report.statuses, [], 'the connections stayed up: no outage to report');
      tt.equal(load.broker.status, 'ready');
    } finally {
      await load.stop();
      if (killed !== undefined) {
        await healCluster(killed);
        await waitQueueOnline(info, load.group).catch(() => {});
      }
      await load.cleanup();
    }
  });
}
