// Issue #13 (b): kill -9 the node leading the group's stream (stream info `cluster.leader`),
// mid-stream, while the client is connected to another node. JetStream elects a new leader;
// publishes wait for it, the group consumes on, nothing confirmed is lost.
import t from 'tap';
import { waitFor } from '@brokerkit/contract-tests';
import {
  killNode,
  nodeIndex,
  nodeOfConnection,
  runFaultScenario,
  startNode,
  streamLeader,
} from '../cluster-support.js';

t.test('kill -9 of the node leading the stream', async (t) => {
  let killed = 0;
  await runFaultScenario(t, {
    name: 'b',
    async fault(ctx) {
      const connected = await waitFor(() => nodeOfConnection(ctx.cluster, ctx.connectionName), {
        message: 'the node the broker is connected to',
      });
      // Keep this apart from (a): move the leadership off the client's node first.
      let leader = await streamLeader(ctx.cluster, ctx.jsm, ctx.stream);
      for (let i = 0; leader === connected && i < 10; i++) {
        await ctx.nc
          .request(`$JS.API.STREAM.LEADER.STEPDOWN.${ctx.stream}`, undefined, { timeout: 5_000 })
          .catch(() => undefined);
        leader = await waitFor(
          async () => {
            const n = nodeIndex(
              ctx.cluster,
              (await ctx.jsm.streams.info(ctx.stream).catch(() => undefined))?.cluster?.leader,
            );
            return n !== undefined && n !== connected ? n : undefined;
          },
          { timeoutMs: 10_000, intervalMs: 100 },
        ).catch(() => connected);
      }
      t.not(leader, connected, `the stream leader (node ${leader}) is not the client's node (${connected})`);
      killed = leader;
      ctx.comment(`killing node ${killed}, the leader of ${ctx.stream}; the broker is on node ${connected}`);
      t.teardown(() => startNode(killed).catch(() => undefined));
      return killNode(killed);
    },
    async recover(ctx) {
      const leader = await streamLeader(ctx.cluster, ctx.jsm, ctx.stream);
      t.not(leader, killed, `a new stream leader was elected (node ${leader})`);
      await startNode(killed);
    },
  });
});
