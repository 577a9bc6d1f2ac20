/**
 * NATS on the loopback 3-node JetStream cluster of `scripts/cluster.sh` (start it first:
 * `bash scripts/cluster.sh start nats`; without it these scenarios are skipped): brokerkit, given
 * the cluster's URL list (so its streams get 3 replicas), against raw nats.js on the same cluster
 * with a stream of the same kind (limits retention with a 7-day max_age, file storage, 3 replicas), rounds
 * interleaved, best round of each kept.
 *
 * Both sides connect through the whole URL list, so each lands on a node at random, and each
 * stream's leader is placed by JetStream: a round whose client sits on the stream leader saves a
 * hop. Interleaving and best-of-rounds keep that from deciding the ratio.
 */
import { readFileSync } from 'node:fs';
import { connect as natsConnect, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { elapsedMs, pipelined, until } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const SUITE = 'nats-cluster';
const RAW = 'nats.js (raw)';
const WINDOW = 256;
const PUBLISH_N = 10_000;
const FLOW_N = 10_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const payload1k = new Uint8Array(1024).fill(120);

/** The cluster's client ports, from the state scripts/cluster.sh keeps (no process started here). */
function clusterUrls(): string[] {
  const dir = process.env.BK_CLUSTER_DIR ?? '/tmp/brokerkit-cluster';
  try {
    const env = readFileSync(`${dir}/nats/ports.env`, 'utf8');
    const ports = [1, 2, 3].map((n) => new RegExp(`^CLIENT_${n}=(\\d+)$`, 'm').exec(env)?.[1]);
    if (ports.some((p) => p === undefined)) return [];
    return ports.map((p) => `nats://127.0.0.1:${p}`);
  } catch {
    return [];
  }
}

const URLS = clusterUrls();
const requires =
  URLS.length === 3
    ? URLS.map((u, i) => ({
        name: `cluster node ${i + 1}`,
        host: '127.0.0.1',
        port: Number(new URL(u).port),
      }))
    : [{ name: 'the nats test cluster (bash scripts/cluster.sh start nats)', host: '127.0.0.1', port: 1 }];

let serial = 0;
function token(prefix: string): string {
  return `benchc${prefix}${process.pid.toString(36)}x${(serial++).toString(36)}`;
}

async function raw(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  // Same client settings as the adapter: every node, no per-request async stack traces.
  const nc = await natsConnect({ servers: URLS.map((u) => u.slice('nats://'.length)), noAsyncTraces: true });
  return { nc, jsm: await jetstreamManager(nc) };
}

/** The stream the adapter creates for a first token on a 3-URL list. */
async function rawEventStream(jsm: JetStreamManager, t: string): Promise<string> {
  const name = `BK_EV_${t}`;
  await jsm.streams.add({
    name,
    subjects: [t, `${t}.>`],
    // What the adapter declares on a replicated event stream (docs/architecture.md#clusters).
    retention: RetentionPolicy.Limits,
    max_age: nanos(7 * 24 * 60 * 60 * 1000),
    storage: StorageType.File,
    num_replicas: 3,
  });
  return name;
}

async function cleanup(streams: string[]): Promise<void> {
  const { nc, jsm } = await raw();
  await Promise.all(streams.map((s) => jsm.streams.delete(s).catch(() => false)));
  await nc.close();
}

async function withBroker<T>(fn: (broker: Broker) => Promise<T>): Promise<T> {
  const broker = await connect(URLS.join(','));
  try {
    return await fn(broker);
  } finally {
    await broker.close();
  }
}

/** Raw client and adapter round-robin for {@link ROUNDS} rounds; each subject's best round. */
function interleaved(
  subjects: Record<string, () => Promise<Measurement>>,
): Record<string, () => Promise<Measurement>> {
  let all: Promise<Record<string, Measurement>> | undefined;
  const runAll = async () => {
    const best: Record<string, Measurement> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(subjects)) {
        global.gc?.();
        const m = await run();
        if (!best[name] || (m.perSecond ?? 0) > (best[name].perSecond ?? 0)) best[name] = m;
      }
    }
    for (const m of Object.values(best))
      m.notes = [m.notes, `3 nodes, R3, best of ${ROUNDS}, interleaved`].filter(Boolean).join(', ');
    return best;
  };
  return Object.fromEntries(
    Object.keys(subjects).map((name) => [name, async () => (await (all ??= runAll()))[name]!]),
  );
}

// -- publish-confirmed ------------------------------------------------------------------------

async function publishBrokerkit(): Promise<Measurement> {
  const t = token('p');
  try {
    return await withBroker(async (broker) => {
      // An interest stream keeps messages only while a group wants them: give it one.
      const sub = await broker.subscribe(`${t}.>`, () => undefined, {
        group: 'sink',
        concurrency: 64,
        prefetch: 256,
      });
      await broker.publish(`${t}.warm`, payload1k);
      const start = performance.now();
      await pipelined(PUBLISH_N, WINDOW, () => broker.publish(`${t}.x`, payload1k));
      const ms = elapsedMs(start);
      await sub.close();
      return { messages: PUBLISH_N, perSecond: (PUBLISH_N / ms) * 1000 };
    });
  } finally {
    await cleanup([`BK_EV_${t}`, 'BK_DLQ_sink']);
  }
}

async function publishRaw(): Promise<Measurement> {
  const t = token('p');
  const { nc, jsm } = await raw();
  try {
    const stream = await rawEventStream(jsm, t);
    await jsm.consumers.add(stream, {
      durable_name: 'sink',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${t}.>`,
    });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, 'sink');
    const msgs = await consumer.consume({ max_messages: 256, callback: (m) => m.ack() });
    await js.publish(`${t}.warm`, payload1k);
    const start = performance.now();
    await pipelined(PUBLISH_N, WINDOW, () => js.publish(`${t}.x`, payload1k));
    const ms = elapsedMs(start);
    await msgs.close();
    return { messages: PUBLISH_N, perSecond: (PUBLISH_N / ms) * 1000 };
  } finally {
    await nc.close();
    await cleanup([`BK_EV_${t}`]);
  }
}

// -- publish → consume ------------------------------------------------------------------------

async function flowBrokerkit(): Promise<Measurement> {
  const t = token('f');
  try {
    return await withBroker(async (broker) => {
      let received = 0;
      await broker.subscribe(`${t}.>`, () => void received++, {
        group: 'flow',
        concurrency: 64,
        prefetch: 256,
      });
      const start = performance.now();
      await pipelined(FLOW_N, WINDOW, () => broker.publish(`${t}.x`, payload1k));
      await until(() => received, FLOW_N);
      const ms = elapsedMs(start);
      return { messages: FLOW_N, perSecond: (FLOW_N / ms) * 1000 };
    });
  } finally {
    await cleanup([`BK_EV_${t}`, 'BK_DLQ_flow']);
  }
}

async function flowRaw(): Promise<Measurement> {
  const t = token('f');
  const { nc, jsm } = await raw();
  try {
    const stream = await rawEventStream(jsm, t);
    await jsm.consumers.add(stream, {
      durable_name: 'flow',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: `${t}.>`,
    });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, 'flow');
    let received = 0;
    const msgs = await consumer.consume({
      max_messages: 256,
      callback: (m) => {
        m.ack();
        received++;
      },
    });
    const start = performance.now();
    await pipelined(FLOW_N, WINDOW, () => js.publish(`${t}.x`, payload1k));
    await until(() => received, FLOW_N);
    const ms = elapsedMs(start);
    await msgs.close();
    return { messages: FLOW_N, perSecond: (FLOW_N / ms) * 1000 };
  } finally {
    await nc.close();
    await cleanup([`BK_EV_${t}`]);
  }
}

const publishing = interleaved({ raw: publishRaw, brokerkit: publishBrokerkit });
const flowing = interleaved({ raw: flowRaw, brokerkit: flowBrokerkit });

/** The NATS cluster scenarios (`npm run bench -- nats-cluster`). */
export const scenarios: Scenario[] = [
  {
    suite: SUITE,
    workload: 'nats-cluster publish-confirmed 1KiB (R3)',
    subject: RAW,
    requires,
    run: publishing.raw!,
  },
  {
    suite: SUITE,
    workload: 'nats-cluster publish-confirmed 1KiB (R3)',
    subject: 'brokerkit',
    baseline: RAW,
    requires,
    run: publishing.brokerkit!,
  },
  {
    suite: SUITE,
    workload: 'nats-cluster publish→consume (group, R3) 1KiB',
    subject: RAW,
    requires,
    run: flowing.raw!,
  },
  {
    suite: SUITE,
    workload: 'nats-cluster publish→consume (group, R3) 1KiB',
    subject: 'brokerkit',
    baseline: RAW,
    requires,
    run: flowing.brokerkit!,
  },
];
