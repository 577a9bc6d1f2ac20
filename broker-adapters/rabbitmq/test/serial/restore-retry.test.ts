// A subscription whose restore fails after a reconnection keeps trying (with backoff) instead of
// giving up. The fault, made deterministic: while the group consumes, its dead-letter queue is
// replaced by one with other arguments, then the broker's consuming connection is closed (through
// the management API, this broker's connection only; on the loopback cluster, which has it). Each restore then declares the group and
// gets 406 on `<group>.dlq`; once the conflicting queue is gone, the next attempt succeeds and the
// group delivers again. In test/serial/ because it force-closes a connection.
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import { requireCluster, uniqueName, waitFor } from '@brokerkit/contract-tests';
import type { ClusterInfo } from '@brokerkit/contract-tests';
import { clusterOptions, management } from '../cluster-support.js';
import { RawRabbit } from '../helpers.js';

/** Close the connection named `name` (client property `connection_name`) via the management API. */
async function closeConnection(info: ClusterInfo, name: string): Promise<void> {
  type Row = { name: string; client_properties?: { connection_name?: string } };
  let row: Row | undefined;
  await waitFor(
    async () => {
      const rows = (await management<Row[]>(info, '/api/connections?columns=name,client_properties')) ?? [];
      row = rows.find((r) => r.client_properties?.connection_name === name);
      return row !== undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200, message: `connection "${name}" in the management API` },
  );
  const u = new URL(info.managementUrls![0]!);
  const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`);
  const response = await fetch(`${u.protocol}//${u.host}/api/connections/${encodeURIComponent(row!.name)}`, {
    method: 'DELETE',
    headers: { authorization: `Basic ${auth.toString('base64')}`, 'x-reason': 'brokerkit restore test' },
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok && response.status !== 404) throw new Error(`closing "${name}": ${response.status}`);
}

const info = await requireCluster(t, 'rabbitmq');
if (info) {
  t.test('a failed restore is retried with backoff until it succeeds', async (tt) => {
    const group = uniqueName('rr');
    const topic = `${uniqueName('rt')}.ev`;
    const connectionName = uniqueName('bk-restore');
    const raw = await RawRabbit.open(info.members[0]!.url);
    const broker = await connect(info.url, clusterOptions(info, connectionName));
    tt.teardown(async () => {
      await broker.close().catch(() => {});
      await raw.deleteQueues(group, `${group}.dlq`).catch(() => {});
      await raw.close();
    });
    const errors: Error[] = [];
    broker.on('error', (e) => errors.push(e));
    const statuses: string[] = [];
    broker.on('status', (s) => statuses.push(s));
    const received: string[] = [];
    await broker.subscribe<{ k: string }>(topic, (m) => void received.push(m.data.k), { group });
    await broker.publish(topic, { k: 'before' });
    await waitFor(() => received.includes('before'), { timeoutMs: 10_000, message: 'first delivery' });

    // A dead-letter queue with other arguments: every declaration of the group now fails (406).
    await raw.deleteQueues(`${group}.dlq`);
    await raw.channel((c) =>
      c.assertQueue(`${group}.dlq`, { durable: true, arguments: { 'x-max-length': 7 } }),
    );
    await closeConnection(info, connectionName);

    const first = await waitFor(
      () => errors.find((e) => isBrokerkitError(e, 'BK_CONFIG') && e.message.includes(group)),
      {
        timeoutMs: 15_000,
        message: () => `a restore failure reported (errors: ${errors.map((e) => e.message)})`,
      },
    );
    tt.match(first.message, /restoring|subscribing/, `reported as a failed restore: ${first.message}`);
    // Further attempts: each one reported, with backoff (100 ms, 200 ms, … at most 5 s).
    await waitFor(() => errors.filter((e) => isBrokerkitError(e, 'BK_CONFIG')).length >= 2, {
      timeoutMs: 10_000,
      message: 'a second attempt',
    });
    tt.pass('the restore was tried again, not given up');
    tt.equal((await raw.check(group))?.consumerCount, 0, 'not consuming meanwhile');

    await raw.deleteQueues(`${group}.dlq`);
    await waitFor(async () => (await raw.check(group))?.consumerCount === 1, {
      timeoutMs: 15_000,
      intervalMs: 100,
      message: 'the group consumed again once the conflict was gone',
    });
    const failures = errors.filter((e) => isBrokerkitError(e, 'BK_CONFIG')).length;
    await broker.publish(topic, { k: 'after' });
    await waitFor(() => received.includes('after'), {
      timeoutMs: 10_000,
      message: 'delivery after the restore',
    });
    tt.pass('the subscription delivers again, without a restart');
    tt.ok(
      errors.every((e) => isBrokerkitError(e, 'BK_CONFIG') || isBrokerkitError(e, 'BK_UNAVAILABLE')),
      `only typed errors (${failures} restore failures reported)`,
    );
    // 100 ms → 5 s backoff: a handful of attempts over a few seconds, not a hot loop.
    tt.ok(failures < 60, `no hot loop (${failures} attempts)`);
    tt.equal(broker.status, 'ready', 'ready');
    tt.ok(statuses.includes('reconnecting'), 'the reconnection was reported');
  });
}
