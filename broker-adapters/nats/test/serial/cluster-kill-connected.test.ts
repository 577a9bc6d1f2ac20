// Issue #13 (a): kill -9 the cluster node the client is connected to, mid-stream. The client
// moves to another node, the group consumes on, nothing confirmed is lost.
import t from 'tap';
import { waitFor } from '@brokerkit/contract-tests';
import { killNode, nodeOfConnection, runFaultScenario, startNode } from '../cluster-support.js';

t.test('kill -9 of the node the client is connected to', async (t) => {
  let killed = 0;
  await runFaultScenario(t, {
    name: 'a',
    async fault(ctx) {
      killed = await waitFor(() => nodeOfConnection(ctx.cluster, ctx.connectionName), {
        message: 'the node the broker is connected to',
      });
      ctx.comment(`killing node ${killed}, which the broker is connected to`);
      // Whatever happens next, the node is started again for the next test.
      t.teardown(() => startNode(killed).catch(() => undefined));
      return killNode(killed);
    },
    async recover(ctx) {
      const now = await waitFor(() => nodeOfConnection(ctx.cluster, ctx.connectionName), {
        timeoutMs: 30_000,
        message: 'the broker on another node',
      });
      t.not(now, killed, `the broker moved to node ${now}`);
      await startNode(killed);
    },
  });
});
