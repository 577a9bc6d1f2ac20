/**
 * A publisher streaming to a group while the test breaks the connection, with exact accounting:
 * attempted, confirmed, failed (by error code), received, lost (confirmed but never received) and
 * duplicated. Shared by the TCP-proxy and the close_all_connections fault tests.
 */
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, BrokerStatus } from '@brokerkit/core';
import { Tally, uniqueName, waitFor } from '@brokerkit/contract-tests';

/** What a streaming run counted. */
export interface StreamReport {
  attempted: number;
  confirmed: number;
  failed: number;
  failureCodes: Record<string, number>;
  received: number;
  distinct: number;
  duplicated: number;
  lost: number;
  statuses: BrokerStatus[];
}

/** Options of {@link streamThroughFault}. */
export interface StreamOptions {
  url: string;
  total: number;
  /** Publishes in flight at once. */
  window: number;
  /** Called once when `atConfirmed` messages are confirmed: break the connection here. */
  fault: () => Promise<void> | void;
  atConfirmed: number;
  /** A second fault later in the stream, if given. */
  secondFaultAt?: number;
  brokerOptions?: BrokerOptions;
  timeoutMs?: number;
}

/**
 * Publish `total` messages to a fresh group (one subscriber on the same broker) and break the
 * connection mid-stream. Resolves once every confirmed message arrived (or the deadline passed)
 * and a sentinel published after the fault was received: the subscription resumed by itself.
 */
export async function streamThroughFault(
  options: StreamOptions,
): Promise<StreamReport & { cleanup(): Promise<void> }> {
  const broker: Broker = await connect(options.url, {
    reconnect: { initialMs: 50, maxMs: 1_000 },
    ...options.brokerOptions,
  });
  const statuses: BrokerStatus[] = [];
  broker.on('status', (s) => statuses.push(s));
  broker.on('error', () => {});
  const group = uniqueName('fault');
  const topic = `${uniqueName('stream')}.ev`;
  const tally = new Tally();
  await broker.subscribe(topic, (m) => void tally.add((m.data as { k: string }).k), {
    group,
    concurrency: 20,
  });

  const confirmed = new Set<string>();
  const failureCodes: Record<string, number> = {};
  let failed = 0;
  let next = 0;
  let faults = 0;
  const faultAt = [options.atConfirmed, ...(options.secondFaultAt ? [options.secondFaultAt] : [])];
  const lane = async () => {
    while (next < options.total) {
      const k = `m-${next++}`;
      try {
        await broker.publish(topic, { k }, { timeoutMs: options.timeoutMs ?? 20_000 });
        confirmed.add(k);
        if (faults < faultAt.length && confirmed.size >= faultAt[faults]!) {
          faults++;
          await options.fault();
        }
      } catch (error) {
        failed++;
        const code = isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`;
        failureCodes[code] = (failureCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.window }, lane));
  await waitFor(() => tally.lost(confirmed).length === 0, {
    timeoutMs: 30_000,
    message: () => `${tally.lost(confirmed).length} confirmed messages still missing`,
  }).catch(() => {});
  const sentinel = uniqueName('sentinel');
  await broker.publish(topic, { k: sentinel });
  await waitFor(() => tally.counts.has(sentinel), { timeoutMs: 30_000, message: 'sentinel after the fault' });
  tally.counts.delete(sentinel);
  tally.total--;
  return {
    attempted: options.total,
    confirmed: confirmed.size,
    failed,
    failureCodes,
    received: tally.total,
    distinct: tally.distinct,
    duplicated: tally.duplicated,
    lost: tally.lost(confirmed).length,
    statuses,
    async cleanup() {
      await broker.close();
      const janitor = await connect(options.url);
      await janitor.inspector!.deleteQueue(group).catch(() => {});
      await janitor.close();
    },
  };
}
