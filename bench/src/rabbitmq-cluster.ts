/**
 * RabbitMQ on the loopback 3-node cluster of `scripts/cluster.sh` (start it first:
 * `bash scripts/cluster.sh start rabbitmq`; without it these scenarios are skipped): brokerkit,
 * given the cluster's URL list (so quorum queues by default, failover on), against raw amqplib
 * publishing to and consuming the same kind of queue on the same cluster, rounds interleaved.
 *
 * Both sides declare their own quorum queue from the node they are connected to, so its leader is
 * on that node (RabbitMQ's default placement), and both pick their node at random: the raw client
 * is measured with the topology brokerkit ends up with. Confirmed publishes to a group (topic
 * exchange → quorum queue), publish-only and publish→consume.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { latencySummary, pipelined, until } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const SUITE = 'rabbitmq-cluster';
const EXCHANGE = 'brokerkit.events';
const BASELINE = 'amqplib (raw)';
const PUBLISH_COUNT = 10_000;
const E2E_COUNT = 10_000;
const WINDOW = 100;
const PREFETCH = 100;
const PAD = 'x'.repeat(1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** The cluster's AMQP ports, from the state scripts/cluster.sh keeps (no process started here). */
function clusterUrls(): string[] {
  const dir = process.env.BK_CLUSTER_DIR ?? '/tmp/brokerkit-cluster';
  try {
    const env = readFileSync(`${dir}/rabbitmq/ports.env`, 'utf8');
    const ports = [1, 2, 3].map((n) => new RegExp(`^AMQP_${n}=(\\d+)$`, 'm').exec(env)?.[1]);
    if (ports.some((p) => p === undefined)) return [];
    return ports.map((p) => `amqp://guest:guest@127.0.0.1:${p}`);
  } catch {
    return [];
  }
}

const URLS = clusterUrls();
const REQUIRES =
  URLS.length === 3
    ? URLS.map((u, i) => ({
        name: `cluster node ${i + 1}`,
        host: '127.0.0.1',
        port: Number(new URL(u).port),
      }))
    : [
        {
          name: 'the rabbitmq test cluster (bash scripts/cluster.sh start rabbitmq)',
          host: '127.0.0.1',
          port: 1,
        },
      ];

function payload(i: number): { i: number; t: number; pad: string } {
  return { i, t: performance.now(), pad: PAD };
}

/** A group as brokerkit declares it on a cluster: durable quorum queue with its role marker. */
function groupQueueOptions(pattern: string) {
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': `_bk.group.${pattern}`,
    },
  };
}

interface Subject {
  publish(i: number): Promise<unknown>;
  consume(onMessage: (data: { i: number; t: number }) => void): Promise<void>;
  close(): Promise<void>;
}

type Factory = (group: string, topic: string) => Promise<Subject>;

async function rawSubject(group: string, topic: string): Promise<Subject> {
  const url = URLS[Math.floor(Math.random() * URLS.length)]!;
  const model: ChannelModel = await amqp.connect(url, { noDelay: true });
  const setup = await model.createChannel();
  await setup.assertExchange(EXCHANGE, 'topic', { durable: true });
  await setup.assertQueue(group, groupQueueOptions(topic));
  await setup.bindQueue(group, EXCHANGE, topic);
  await setup.close();
  const pub: ConfirmChannel = await model.createConfirmChannel();
  return {
    publish(i) {
      const now = Date.now();
      const content = Buffer.from(JSON.stringify(payload(i)));
      return new Promise<void>((resolve, reject) =>
        pub.publish(
          EXCHANGE,
          topic,
          content,
          {
            persistent: true,
            messageId: randomUUID(),
            timestamp: Math.floor(now / 1000),
            contentType: 'application/json',
            headers: { 'x-ts': String(now) },
          },
          (err: unknown) => (err ? reject(err) : resolve()),
        ),
      );
    },
    async consume(onMessage) {
      const sub = await model.createChannel();
      await sub.prefetch(PREFETCH);
      await sub.consume(group, (m: ConsumeMessage | null) => {
        if (!m) return;
        onMessage(JSON.parse(m.content.toString('utf8')) as { i: number; t: number });
        sub.ack(m);
      });
    },
    close: () => model.close().catch(() => {}),
  };
}

async function brokerkitSubject(group: string, topic: string): Promise<Subject> {
  const broker: Broker = await connect(URLS.join(','));
  // The group queue exists from the first subscribe on (declared from the node brokerkit picked).
  const declare = await broker.subscribe(topic, () => {}, { group });
  let consuming = false;
  return {
    publish: (i) => broker.publish(topic, payload(i)),
    async consume(onMessage) {
      consuming = true;
      await declare.close();
      await broker.subscribe<{ i: number; t: number }>(topic, (m) => onMessage(m.data), {
        group,
        concurrency: PREFETCH,
        prefetch: PREFETCH,
      });
    },
    async close() {
      if (!consuming) await declare.close().catch(() => {});
      await broker.close();
    },
  };
}

/** A fresh group per run, deleted afterwards through node 1 (or whichever answers). */
async function withGroup<T>(work: (group: string, topic: string) => Promise<T>): Promise<T> {
  const id = randomUUID().slice(0, 8);
  try {
    return await work(`bench-cluster-${id}`, `bench.cluster-${id}`);
  } finally {
    for (const url of URLS) {
      try {
        const model = await amqp.connect(url, { noDelay: true });
        const ch = await model.createChannel();
        await ch.deleteQueue(`bench-cluster-${id}`);
        await ch.deleteQueue(`bench-cluster-${id}.dlq`).catch(() => {});
        await model.close();
        break;
      } catch {
        // next node
      }
    }
  }
}

async function publishConfirmed(factory: Factory): Promise<Measurement> {
  return withGroup(async (group, topic) => {
    const subject = await factory(group, topic);
    try {
      await pipelined(500, WINDOW, (i) => subject.publish(i)); // warm-up
      const start = performance.now();
      await pipelined(PUBLISH_COUNT, WINDOW, (i) => subject.publish(i));
      const seconds = (performance.now() - start) / 1000;
      return { messages: PUBLISH_COUNT, perSecond: PUBLISH_COUNT / seconds, notes: `window ${WINDOW}` };
    } finally {
      await subject.close();
    }
  });
}

async function endToEnd(factory: Factory): Promise<Measurement> {
  return withGroup(async (group, topic) => {
    const subject = await factory(group, topic);
    try {
      let received = 0;
      const samples: number[] = [];
      await subject.consume((data) => {
        received++;
        samples.push(performance.now() - data.t);
      });
      const start = performance.now();
      await pipelined(E2E_COUNT, WINDOW, (i) => subject.publish(i));
      await until(() => received, E2E_COUNT);
      const seconds = (performance.now() - start) / 1000;
      return {
        messages: E2E_COUNT,
        perSecond: E2E_COUNT / seconds,
        ...latencySummary(samples),
        notes: `window ${WINDOW}, prefetch ${PREFETCH}`,
      };
    } finally {
      await subject.close();
    }
  });
}

const SUBJECTS: Array<{ name: string; factory: Factory }> = [
  { name: BASELINE, factory: rawSubject },
  { name: 'brokerkit', factory: brokerkitSubject },
];

/** Subjects of one workload measured in interleaved rounds, reported by their median run. */
function interleaved(workload: string, run: (factory: Factory) => Promise<Measurement>): Scenario[] {
  let results: Promise<Map<string, Measurement>> | undefined;
  const measureAll = async (): Promise<Map<string, Measurement>> => {
    const runs = new Map<string, Measurement[]>(SUBJECTS.map((s) => [s.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const subject of SUBJECTS) {
        global.gc?.();
        runs.get(subject.name)!.push(await run(subject.factory));
      }
    }
    const medians = new Map<string, Measurement>();
    for (const [name, list] of runs) {
      list.sort((a, b) => (a.perSecond ?? 0) - (b.perSecond ?? 0));
      const median = list[Math.floor(list.length / 2)]!;
      const rates = list.map((r) => Math.round(r.perSecond ?? 0)).join('/');
      medians.set(name, { ...median, notes: `${median.notes ?? ''}, median of ${ROUNDS} (${rates})` });
    }
    return medians;
  };
  return SUBJECTS.map((s) => ({
    workload,
    subject: s.name,
    baseline: s.name === BASELINE ? undefined : BASELINE,
    suite: SUITE,
    requires: REQUIRES,
    run: async () => {
      results ??= measureAll();
      return (await results).get(s.name)!;
    },
  }));
}

/** Scenarios of the `rabbitmq-cluster` suite. */
export const scenarios: Scenario[] = [
  ...interleaved('3-node cluster: publish-confirmed to a quorum group, 1KiB', publishConfirmed),
  ...interleaved('3-node cluster: publish→consume through a quorum group, 1KiB', endToEnd),
];
