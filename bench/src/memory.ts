/**
 * Memory-adapter scenarios: the cost of brokerkit's own machinery (validation, codec, dispatcher,
 * retry bookkeeping) with no network in the way. Each run uses its own `memory://<name>` broker.
 */
import { connect } from '@brokerkit/core';
import { resetMemoryBroker } from '@brokerkit/memory';
import { latencySummary, pipelined, until, type Measurement, type Scenario } from './harness.js';

const MESSAGES = 200_000;
const WINDOW = 1000;
const PAYLOAD = { orderId: 'o-123456', amount: 42.5, currency: 'EUR', items: 3 };

let runs = 0;
async function withBroker<T>(body: (broker: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const name = `bench-${process.pid}-${runs++}`;
  const broker = await connect(`memory://${name}`);
  try {
    return await body(broker);
  } finally {
    await broker.close();
    resetMemoryBroker(name);
  }
}

/** Publish `MESSAGES` to a group (concurrency 1) and time until the handler has acked them all. */
function publishToHandler(): Promise<Measurement> {
  return withBroker(async (broker) => {
    let handled = 0;
    await broker.subscribe('bench.>', () => void handled++, { group: 'bench-group' });
    const start = performance.now();
    await pipelined(MESSAGES, WINDOW, () => broker.publish('bench.order', PAYLOAD));
    await until(() => handled, MESSAGES);
    const seconds = (performance.now() - start) / 1000;
    return { messages: MESSAGES, perSecond: MESSAGES / seconds };
  });
}

/** Three ephemeral subscribers: deliveries per second (3 per publish). */
function fanOut3(): Promise<Measurement> {
  return withBroker(async (broker) => {
    let delivered = 0;
    for (let i = 0; i < 3; i++) await broker.subscribe('bench.*', () => void delivered++);
    const start = performance.now();
    await pipelined(MESSAGES, WINDOW, () => broker.publish('bench.order', PAYLOAD));
    await until(() => delivered, MESSAGES * 3);
    const seconds = (performance.now() - start) / 1000;
    return {
      messages: MESSAGES * 3,
      perSecond: (MESSAGES * 3) / seconds,
      notes: 'deliveries/s, 3 subscribers',
    };
  });
}

/** A work queue drained by one consumer with concurrency 16 and an async (yielding) handler. */
function workQueue16(): Promise<Measurement> {
  return withBroker(async (broker) => {
    let handled = 0;
    await broker.consume(
      'bench-jobs',
      async () => {
        await Promise.resolve();
        handled++;
      },
      { concurrency: 16 },
    );
    const start = performance.now();
    await pipelined(MESSAGES, WINDOW, () => broker.send('bench-jobs', PAYLOAD));
    await until(() => handled, MESSAGES);
    const seconds = (performance.now() - start) / 1000;
    return { messages: MESSAGES, perSecond: MESSAGES / seconds, notes: 'concurrency 16' };
  });
}

/** One message at a time: publish → handler latency. */
function latency(): Promise<Measurement> {
  return withBroker(async (broker) => {
    const count = 20_000;
    const samples: number[] = [];
    let resolveOne: (() => void) | undefined;
    await broker.subscribe(
      'bench.>',
      (m) => {
        samples.push(performance.now() - (m.data as { t: number }).t);
        resolveOne?.();
      },
      { group: 'bench-latency' },
    );
    for (let i = 0; i < count; i++) {
      const delivered = new Promise<void>((resolve) => (resolveOne = resolve));
      await broker.publish('bench.ping', { t: performance.now() });
      await delivered;
    }
    return { messages: count, ...latencySummary(samples) };
  });
}

/** Scenarios of this suite. */
export const scenarios: Scenario[] = [
  {
    suite: 'memory',
    workload: 'memory publish→handler→ack (group)',
    subject: 'brokerkit',
    run: publishToHandler,
  },
  { suite: 'memory', workload: 'memory fan-out ×3 (ephemeral)', subject: 'brokerkit', run: fanOut3 },
  { suite: 'memory', workload: 'memory work queue, concurrency 16', subject: 'brokerkit', run: workQueue16 },
  { suite: 'memory', workload: 'memory publish→handler latency', subject: 'brokerkit', run: latency },
];
