// Several groups on one first token share one event stream; each must get every confirmed
// message. On nats-server 2.9.10 a 3-replica *interest* stream can remove a message once one
// group acked it although a group that lags behind has not received it yet (no fault needed;
// reproduced with raw nats.js, see the README, "nats-server 2.9 limitations"). brokerkit
// therefore gives replicated event streams limits retention (bounded by age), which removes
// nothing on acks; one replica keeps interest retention. This test runs both defaults with two
// fast groups and one that lags (the case that lost messages) and requires 0 lost in every group.
// BK_NATS_INTEREST_R3=1 adds a 3-replica interest stream (nats.eventRetention: 'interest'), held
// to the same standard: the check to run before going back to interest on a newer server.
import t from 'tap';
import { connect } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { nanos } from '@nats-io/transport-node';
import { consumerName, dlqStreamName, eventStreamName } from '../../src/names.js';
import { DEFAULT_EVENT_MAX_AGE_MS } from '../../src/options.js';
import {
  LoadPublisher,
  Received,
  deleteClusterStreams,
  natsCluster,
  rawClusterClient,
  waitHealthy,
} from '../cluster-support.js';

const TOTAL = 6_000;
/** Per-message work of the lagging group: with one handler at a time it falls seconds behind. */
const SLOW_HANDLER_MS = 1;

t.test('several groups on one replicated event stream', async (t) => {
  const cluster = await natsCluster(t);
  if (!cluster) return;
  const { jsm } = await rawClusterClient(t, cluster);
  await waitHealthy(cluster, jsm);

  const cases: Array<[replicas: number, retention: 'interest' | 'limits', option: boolean]> = [
    [1, 'interest', false],
    [3, 'limits', false],
  ];
  if (process.env.BK_NATS_INTEREST_R3 === '1') cases.push([3, 'interest', true]);
  for (const [replicas, retention, option] of cases) {
    const what = option ? 'nats.eventRetention' : 'by default';
    t.test(`${replicas} replica(s): ${retention} retention ${what}`, async (t) => {
      const token = uniqueName(`cl2g${replicas}`);
      const groups = [uniqueName('ga'), uniqueName('gb'), uniqueName('gslow')];
      const stream = eventStreamName(token);
      t.teardown(() => deleteClusterStreams(jsm, [stream, ...groups.map(dlqStreamName)]));
      const broker = await connect(cluster.urls, {
        nats: option ? { replicas, eventRetention: retention } : { replicas },
      });
      t.teardown(() => broker.close());
      const got = groups.map(() => new Received());
      for (const [i, group] of groups.entries()) {
        const slow = i === groups.length - 1;
        await broker.subscribe(
          `${token}.*`,
          async (m) => {
            got[i]!.add((m.data as { key: string }).key, m.redelivered);
            if (slow) await new Promise((r) => setTimeout(r, SLOW_HANDLER_MS));
          },
          slow ? { group, concurrency: 1, prefetch: 32 } : { group, concurrency: 16, prefetch: 128 },
        );
      }
      const { config } = await jsm.streams.info(stream);
      t.equal(config.num_replicas, replicas, `${replicas} replica(s)`);
      t.equal(config.retention, retention, `${retention} retention`);
      t.equal(config.max_age, retention === 'limits' ? nanos(DEFAULT_EVENT_MAX_AGE_MS) : 0, 'max_age');

      const publisher = new LoadPublisher(broker, `${token}.x`, { window: 64, max: TOTAL }).start();
      await publisher.finished();
      t.equal(publisher.confirmed.length, TOTAL, 'every publish confirmed');
      // Done when every group is drained on the server (what was removed will never come).
      await waitFor(
        async () => {
          for (const group of groups) {
            const c = await jsm.consumers.info(stream, consumerName(group));
            if (c.num_pending > 0 || c.num_ack_pending > 0) return false;
          }
          return true;
        },
        { timeoutMs: 90_000, intervalMs: 200, message: 'every group drained' },
      );
      for (const [i, group] of groups.entries()) {
        const r = got[i]!;
        const lost = r.lost(publisher.confirmed).length;
        t.comment(
          `replicas ${replicas} (${retention}), group ${group}: received ${r.counts.size} of ${TOTAL}, lost ${lost}, duplicated ${r.duplicated}`,
        );
        t.equal(lost, 0, `group ${i + 1} got every confirmed message`);
        // No fault, ack wait far above the handlers' time: a redelivery would be a bug.
        t.equal(r.duplicated, 0, `group ${i + 1} got each message once`);
      }
    });
  }
});
