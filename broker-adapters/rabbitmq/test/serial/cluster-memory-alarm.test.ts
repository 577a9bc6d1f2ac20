// A RabbitMQ memory alarm (`set_vm_memory_high_watermark 0.0000001` on one node: alarms block
// publishers cluster-wide) while a broker publishes: the status goes `blocked` (a `status` event,
// and an `error` event naming the blocked node), publishes wait and reject BK_UNAVAILABLE at their
// deadline, consumers keep draining meanwhile (they have their own connection), and when the alarm
// clears the status is `ready` again without a reconnection and publishing resumes. 0 confirmed
// lost. Serial: the alarm blocks every publisher of the shared test cluster.
import t from 'tap';
import { isBrokerkitError } from '@brokerkit/core';
import { rabbitmqctl, requireCluster, waitFor } from '@brokerkit/contract-tests';
import { Load, connectionNodes, healCluster } from '../cluster-support.js';

const info = await requireCluster(t, 'rabbitmq');
if (info) {
  t.test('memory alarm mid-stream: publishes wait (bounded), consumers drain, resume, 0 lost', async (tt) => {
    const load = await Load.open({ info, failEvery: 0, timeoutMs: 30_000 });
    let reconnected = 0;
    let disconnected = 0;
    load.broker.on('reconnected', () => reconnected++);
    load.broker.on('disconnected', () => disconnected++);
    let alarmOn: number | undefined;
    const clear = async () => {
      if (alarmOn !== undefined) await rabbitmqctl(alarmOn, ['set_vm_memory_high_watermark', '0.4']);
      alarmOn = undefined;
    };
    try {
      const on = await connectionNodes(info, load.connectionName);
      load.start();
      await load.untilConfirmed(300);

      // An alarm on another node than the one the broker is connected to: alarms are cluster-wide.
      alarmOn = (on.publishing % info.nodes) + 1;
      const raisedAt = Date.now();
      await rabbitmqctl(alarmOn, ['set_vm_memory_high_watermark', '0.0000001']);
      tt.comment(`rabbitmqctl set_vm_memory_high_watermark took ${Date.now() - raisedAt} ms`);
      const blocked = await waitFor(
        () =>
          load.errors.find(
            (e) => isBrokerkitError(e, 'BK_UNAVAILABLE') && /blocked publishing/.test(e.message),
          ),
        { timeoutMs: 15_000, message: 'an error event reporting the block' },
      );
      tt.comment(`blocked ${Date.now() - raisedAt} ms after raising the alarm: ${blocked.message}`);
      tt.match(
        blocked.message,
        /^RabbitMQ node amqp:\/\/127\.0\.0\.1:\d+ blocked publishing: /,
        'names the node',
      );
      tt.notMatch(blocked.message, /guest/, 'without credentials');
      await waitFor(() => load.broker.status === 'blocked', {
        timeoutMs: 5_000,
        message: () => `status ${load.broker.status}, events ${JSON.stringify(load.statuses)}`,
      });
      tt.same(load.statuses, ['blocked'], 'a status event reported the block');
      const confirmedAtBlock = load.confirmed.size;

      // Bounded waits, typed failures: confirmed and fire-and-forget alike.
      let started = Date.now();
      const error = await load.broker
        .publish(load.topic, { k: 'probe', i: -2, t: 0 }, { timeoutMs: 1_500 })
        .catch((e: unknown) => e);
      const waited = Date.now() - started;
      tt.ok(
        isBrokerkitError(error, 'BK_UNAVAILABLE'),
        `a publish during the alarm rejects BK_UNAVAILABLE (${String(error)})`,
      );
      tt.ok(waited >= 1_400 && waited < 5_000, `after its timeoutMs (${waited} ms)`);
      started = Date.now();
      const fast = await load.broker
        .publish(load.topic, { k: 'probe-fast', i: -3, t: 0 }, { timeoutMs: 1_000, confirm: false })
        .catch((e: unknown) => e);
      tt.ok(isBrokerkitError(fast, 'BK_UNAVAILABLE'), `confirm: false waits too, bounded (${String(fast)})`);
      tt.ok(Date.now() - started < 5_000, 'and does not hang');

      // Consumers are on their own connection, which publishes nothing: they keep draining.
      await waitFor(() => load.tally.lost(load.confirmed).length === 0, {
        timeoutMs: 20_000,
        message: () =>
          `${load.tally.lost(load.confirmed).length} confirmed messages not delivered during the alarm`,
      });
      tt.pass('every message confirmed before the alarm was delivered during it');
      tt.ok(load.confirmed.size <= confirmedAtBlock + 15, 'nothing new was confirmed while blocked');
      tt.equal(load.broker.status, 'blocked', 'status stays blocked while the alarm lasts');

      const clearing = Date.now();
      await clear();
      const clearedAt = Date.now();
      await waitFor(() => load.broker.status === 'ready', {
        timeoutMs: 15_000,
        message: () => `status ${load.broker.status} after the alarm cleared`,
      });
      tt.comment(`status ready ${Date.now() - clearedAt} ms after rabbitmqctl returned`);
      load.fault(clearedAt);
      await load.untilConfirmedAfterFault(300);
      const report = load.report();
      tt.comment(
        `alarm cleared (rabbitmqctl took ${clearedAt - clearing} ms): first confirm of a publish started ` +
          `after the command returned ${report.firstConfirmAfterFaultMs} ms later`,
      );
      await load.stop();
      await load.drain();
      const final = await load.fullReport();
      tt.comment(JSON.stringify(final));
      tt.equal(final.lost, 0, 'no confirmed message lost');
      tt.equal(final.confirmed + final.failed, final.attempted, 'every publish settled');
      for (const code of Object.keys(final.failureCodes))
        tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
      tt.same(final.statuses, ['blocked', 'ready'], 'status sequence: blocked, then ready');
      tt.equal(reconnected, 0, 'blocked → ready is no reconnection');
      tt.equal(disconnected, 0, 'and there was no disconnection');
    } finally {
      await clear().catch(() => {});
      await load.stop();
      await healCluster();
      await load.cleanup();
    }
  });
}
