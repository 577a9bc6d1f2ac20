// A rolling restart of all three RabbitMQ nodes, one after the other (graceful
// `rabbitmqctl stop_app` / `start_app`: the RabbitMQ application restarts, its Erlang VM stays, as
// in an upgrade of plugins or config), waiting until the queues have every member back before the
// next node, while a broker publishes, sends and consumes: 0 confirmed lost, only typed failures,
// consumers resume after every move. Serial: it restarts every node of the shared test cluster.
import t from 'tap';
import { rabbitmqctl, requireCluster } from '@brokerkit/contract-tests';
import { Load, connectionNodes, healCluster, waitQueueOnline } from '../cluster-support.js';

const info = await requireCluster(t, 'rabbitmq');
if (info) {
  t.test('rolling restart of 3 nodes under load: 0 confirmed lost, consumers resume', async (tt) => {
    const load = await Load.open({ info, failEvery: 11, paceMs: 30 });
    const moves: string[] = [];
    try {
      load.start();
      await load.untilConfirmed(200);
      for (let n = 1; n <= info.nodes; n++) {
        const on = await connectionNodes(info, load.connectionName);
        const at = Date.now();
        load.fault(at);
        await rabbitmqctl(n, ['stop_app']);
        const stopped = Date.now();
        await load.untilConfirmedAfterFault(50);
        const r = load.report();
        await rabbitmqctl(n, ['start_app']);
        const started = Date.now();
        await waitQueueOnline(info, load.group);
        await waitQueueOnline(info, load.queue);
        moves.push(
          `node ${n} (client on ${on.consuming}/${on.publishing}): stop_app ${stopped - at} ms, ` +
            `start_app ${started - stopped} ms, queues whole again ${Date.now() - started} ms later; ` +
            `first confirm of a publish started after stop_app began ${r.firstConfirmAfterFaultMs} ms, first delivery ${r.firstDeliveryAfterFaultMs} ms`,
        );
      }
      await load.stop();
      await load.drain();
      const report = await load.fullReport();
      tt.comment(JSON.stringify({ ...report, statuses: report.statuses.join(',') }));
      for (const m of moves) tt.comment(`rolling restart: ${m}`);

      tt.equal(report.lost, 0, 'no confirmed message lost');
      tt.equal(report.confirmed + report.failed, report.attempted, 'every publish settled');
      for (const code of Object.keys(report.failureCodes))
        tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
      tt.ok(report.statuses.includes('reconnecting'), 'the moves were reported');
      tt.ok(report.retried > 0, 'messages went through the (quorum) retry buckets');
      tt.equal(load.broker.status, 'ready', 'ready at the end');
    } finally {
      await load.stop();
      await healCluster();
      await load.cleanup();
    }
  });
}
