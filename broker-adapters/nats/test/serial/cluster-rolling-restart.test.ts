// Issue #13 (c): a rolling restart of all three nodes, one at a time (SIGTERM, start again,
// wait until the cluster is healthy, next), while a publisher streams to a group. The client
// moves between nodes as they go down; nothing confirmed is lost.
import t from 'tap';
import { waitFor } from '@brokerkit/contract-tests';
import {
  fmtMs,
  nodeOfConnection,
  runFaultScenario,
  startNode,
  stopNode,
  waitHealthy,
} from '../cluster-support.js';

t.test('rolling restart of the three nodes under load', async (t) => {
  await runFaultScenario(t, {
    name: 'c',
    before: 500,
    after: 500,
    async fault(ctx) {
      let t0 = 0;
      for (const node of ctx.cluster.nodes) {
        const confirmed = ctx.publisher.confirmed.length;
        const on = await nodeOfConnection(ctx.cluster, ctx.connectionName);
        t.teardown(() => startNode(node.index).catch(() => undefined));
        const stopped = await stopNode(node.index);
        t0 ||= stopped;
        await startNode(node.index);
        await waitHealthy(ctx.cluster, ctx.jsm, [ctx.stream]);
        // Load went on through this node's restart.
        await waitFor(() => ctx.publisher.confirmed.length > confirmed + 100, {
          timeoutMs: 30_000,
          message: `publishes confirmed after node ${node.index} restarted`,
        });
        ctx.comment(
          `node ${node.index} restarted (the broker was on node ${on ?? '?'}); ${fmtMs(Date.now() - stopped)} until healthy, ` +
            `${ctx.publisher.confirmed.length - confirmed} confirmed meanwhile`,
        );
      }
      return t0;
    },
    async recover() {
      // Every node was restarted by the fault itself.
    },
  });
});
