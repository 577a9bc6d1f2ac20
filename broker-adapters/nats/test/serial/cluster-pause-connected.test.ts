// Issue #13 (d): SIGSTOP the node the client is connected to — it keeps its sockets open and
// stops answering — for longer than the ping interval, then SIGCONT. The client's pings go
// unanswered; after maxPingOut of them it leaves the node for another one and consumes on.
import t from 'tap';
import { waitFor } from '@brokerkit/contract-tests';
import { fmtMs, nodeOfConnection, pauseNode, resumeNode, runFaultScenario } from '../cluster-support.js';

// The defaults (documented in the README, Clusters): a silent node is left between
// pingIntervalMs × maxPingOut and pingIntervalMs × (maxPingOut + 1) after it went silent, 10–15 s.
const PING_INTERVAL_MS = 5_000;
const MAX_PING_OUT = 2;
/** Timers fire late on the loaded 2-core machine; the bound is the documented one plus this. */
const SLACK_MS = 2_000;
/** After giving the node up the client is on another node at once (the README: "as above"). */
const RECONNECT_WITHIN_MS = 5_000;

t.test('SIGSTOP of the node the client is connected to', async (t) => {
  let paused = 0;
  let pausedAt = 0;
  await runFaultScenario(t, {
    name: 'd',
    nats: { pingIntervalMs: PING_INTERVAL_MS, maxPingOut: MAX_PING_OUT },
    async fault(ctx) {
      paused = await waitFor(() => nodeOfConnection(ctx.cluster, ctx.connectionName), {
        message: 'the node the broker is connected to',
      });
      ctx.comment(`pausing node ${paused} (SIGSTOP), which the broker is connected to`);
      // Whatever happens next, the node runs again for the next test.
      t.teardown(() => resumeNode(paused).catch(() => undefined));
      pausedAt = await pauseNode(paused);
      return pausedAt;
    },
    async recover(ctx) {
      const left = ctx.events.find(([e, at]) => e === 'disconnected' && at >= pausedAt)?.[1];
      t.ok(left !== undefined, 'the client gave the silent node up');
      const detected = (left ?? Date.now()) - pausedAt;
      t.ok(
        detected <= PING_INTERVAL_MS * (MAX_PING_OUT + 1) + SLACK_MS,
        `detected within pingIntervalMs × (maxPingOut + 1) = 15 s (+${SLACK_MS / 1000} s slack): ${fmtMs(detected)}`,
      );
      // Earlier would not be ping detection: maxPingOut pings sent into the silence, one interval
      // apart, then one more interval (1 s off for a ping just before the stop and for when the
      // test saw the process stopped).
      t.ok(
        detected >= PING_INTERVAL_MS * MAX_PING_OUT - 1_000,
        `given up by ping, not before ${fmtMs(PING_INTERVAL_MS * MAX_PING_OUT - 1_000)}: ${fmtMs(detected)}`,
      );
      ctx.comment(
        `failover: SIGSTOP detected by ping after ${fmtMs(detected)} (pingIntervalMs ${PING_INTERVAL_MS}, maxPingOut ${MAX_PING_OUT})`,
      );
      const now = await waitFor(() => nodeOfConnection(ctx.cluster, ctx.connectionName), {
        timeoutMs: 30_000,
        message: 'the broker on another node',
      });
      t.not(now, paused, `the broker moved to node ${now}`);
      const back = ctx.events.find(([e, at]) => e === 'reconnected' && at >= (left ?? pausedAt))?.[1];
      t.ok(
        back !== undefined && back - left! <= RECONNECT_WITHIN_MS,
        `reconnected to another node within ${fmtMs(RECONNECT_WITHIN_MS)} of leaving: ${fmtMs(back === undefined ? undefined : back - left!)}`,
      );
      t.ok(Date.now() - pausedAt > PING_INTERVAL_MS, 'the node stayed paused longer than the ping interval');
      await resumeNode(paused);
    },
  });
});
