// kill -9 of the RabbitMQ node a broker's connections (and the quorum queues it declared) are on,
// under load, on the loopback 3-node cluster: 0 confirmed messages lost, only typed failures, the
// group and the work queue resume on another node without restarting anything. Serial: it kills a
// node every other cluster user shares.
import t from 'tap';
import { requireCluster } from '@brokerkit/contract-tests';
import {
  Load,
  clusterQueue,
  connectionNodes,
  healCluster,
  killNodeTimed,
  waitQueueOnline,
} from '../cluster-support.js';

const info = await requireCluster(t, 'rabbitmq');
if (info) {
  t.test('kill -9 the connected node under load: 0 confirmed lost, consumers resume', async (tt) => {
    const load = await Load.open({ info, failEvery: 7 });
    let killed: number | undefined;
    try {
      const before = await connectionNodes(info, load.connectionName);
      tt.equal(before.publishing, before.consuming, 'both connections start on one node');
      const q = await clusterQueue(info, load.group);
      tt.equal(q?.type, 'quorum', 'groups are quorum queues on a cluster');
      tt.equal(q?.leader, info.members[before.consuming - 1]!.name, 'its leader is on the connected node');

      load.start();
      await load.untilConfirmed(400);
      killed = before.consuming;
      load.fault(await killNodeTimed(killed));
      await load.untilConfirmedAfterFault(400);
      await load.stop();
      await load.drain();
      const after = await connectionNodes(info, load.connectionName);
      const report = await load.fullReport();
      tt.comment(JSON.stringify(report));
      tt.comment(
        `failover: kill -9 of node ${killed} (connections + group leader) → ready after ${report.readyAfterFaultMs} ms, ` +
          `first confirmed publish after ${report.firstConfirmAfterFaultMs} ms, first delivery after ${report.firstDeliveryAfterFaultMs} ms`,
      );

      tt.not(after.consuming, killed, 'the consuming connection moved to another node');
      tt.not(after.publishing, killed, 'the publishing connection moved to another node');
      const lostRetried = report.lostDetail?.retriedOnes ?? 0;
      tt.equal(report.lost - lostRetried, 0, 'no confirmed message lost outside the retry path');
      // The retry path (quorum buckets led by the killed node, emptied by the bucket mover) too.
      tt.equal(lostRetried, 0, 'no retried message lost');
      tt.equal(report.confirmed + report.failed, report.attempted, 'every publish settled');
      for (const code of Object.keys(report.failureCodes))
        tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
      tt.ok(report.retried > 0, 'messages went through the (quorum) retry buckets');
      tt.ok(report.statuses.includes('reconnecting'), 'the outage was reported');
      tt.equal(load.broker.status, 'ready', 'ready again');
      tt.ok(
        load.errors.every((e) => !/guest:guest/.test(e.message)),
        'no credentials in error messages',
      );
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
