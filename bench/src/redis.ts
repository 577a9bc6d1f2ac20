/**
 * Redis suite: brokerkit's Redis adapter against raw Streams commands (an `XADD` pipeline into
 * `XREADGROUP` / `XACK`, through ioredis like the adapter) and against BullMQ (what a Node user
 * picks for jobs), all on one private redis-server started for the run, with one persistence
 * setting for every subject: `appendonly yes`, `appendfsync everysec` (`BENCH_REDIS_FSYNC=always`
 * fsyncs every write instead).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Queue, Worker } from 'bullmq';
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { elapsedMs, latencySummary, pipelined, until } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const RAW = 'ioredis (raw Streams)';
const BULLMQ = 'BullMQ';
const WINDOW = 256;
const FSYNC = process.env.BENCH_REDIS_FSYNC === 'always' ? 'always' : 'everysec';
const SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

// -- the private server ----------------------------------------------------------------------

let server: Promise<{ port: number; child: ChildProcess; dir: string }> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One redis-server for the whole suite, stopped when the process exits. */
function privateServer(): Promise<{ port: number }> {
  server ??= (async () => {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bk-bench-redis-'));
    const child = spawn(
      SERVER_BIN,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        FSYNC,
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    child.once('error', () => undefined);
    // The server must not keep the bench alive: it is killed when the process exits.
    child.unref();
    process.once('exit', () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        break;
      } catch {
        probe.disconnect();
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`redis-server (${SERVER_BIN}) did not start on ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return { port, child, dir };
  })();
  return server;
}

async function raw(): Promise<Redis> {
  const { port } = await privateServer();
  const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
  await redis.ping();
  return redis;
}

async function withBroker<T>(fn: (broker: Broker) => Promise<T>): Promise<T> {
  const { port } = await privateServer();
  const broker = await connect(`redis://127.0.0.1:${port}`);
  try {
    return await fn(broker);
  } finally {
    await broker.close();
  }
}

let serial = 0;
function name(prefix: string): string {
  return `bench-${prefix}-${process.pid.toString(36)}-${(serial++).toString(36)}`;
}

async function flushAll(): Promise<void> {
  const redis = await raw();
  await redis.flushall();
  redis.disconnect();
}

/**
 * Subjects run round-robin for a few rounds and each keeps its best round (as in the NATS suite):
 * the machine is shared and load drifts over seconds, so all subjects see the same conditions.
 * Each run also records the CPU time this process spent per message (the client's own cost:
 * publisher, consumer and library together), which other load on the machine barely moves.
 */
type Run = Measurement & { cpuUsPerMessage?: number };
const ROUNDS = Number(process.env.BENCH_REDIS_ROUNDS ?? 5);

function interleaved(
  subjects: Record<string, () => Promise<Measurement>>,
): Record<string, () => Promise<Measurement>> {
  let all: Promise<Record<string, Run>> | undefined;
  const runAll = async () => {
    const best: Record<string, Run> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [subject, run] of Object.entries(subjects)) {
        global.gc?.();
        const cpu = process.cpuUsage();
        const m: Run = await run();
        const used = process.cpuUsage(cpu);
        m.cpuUsPerMessage = (used.user + used.system) / m.messages;
        await flushAll();
        if (!best[subject] || (m.perSecond ?? 0) > (best[subject].perSecond ?? 0)) best[subject] = m;
      }
    }
    for (const m of Object.values(best)) {
      const cpu = `client CPU ${m.cpuUsPerMessage!.toFixed(1)} µs/msg`;
      m.notes = [cpu, m.notes, `best of ${ROUNDS}, interleaved, appendfsync ${FSYNC}`]
        .filter(Boolean)
        .join(', ');
    }
    return best;
  };
  return Object.fromEntries(
    Object.keys(subjects).map((subject) => [subject, async () => (await (all ??= runAll()))[subject]!]),
  );
}

const payload1k = new Uint8Array(1024).fill(120);
const payload1kText = 'x'.repeat(1024);

// -- work queue: send → handler --------------------------------------------------------------

const JOBS = 20_000;
const CONCURRENCY = 64;

/** Throughput and add→process latency (under this load) of one run. */
function result(samples: number[], ms: number, notes?: string): Measurement {
  return {
    messages: samples.length,
    perSecond: (samples.length / ms) * 1000,
    ...latencySummary(samples),
    notes,
  };
}

async function queueBrokerkit(): Promise<Measurement> {
  const q = name('q');
  return withBroker(async (broker) => {
    const samples: number[] = [];
    await broker.consume(
      q,
      (m) => {
        samples.push(performance.now() - (m.data as { t: number }).t);
      },
      { concurrency: CONCURRENCY, prefetch: WINDOW },
    );
    const start = performance.now();
    await pipelined(JOBS, WINDOW, () => broker.send(q, { t: performance.now(), p: payload1kText }));
    await until(() => samples.length, JOBS);
    return result(samples, elapsedMs(start));
  });
}

/**
 * The raw client's idiom for a Streams work queue: one connection pipelining `XADD`s, one
 * blocking `XREADGROUP` per batch and one `XACK` per batch. With `sameFields` each entry carries
 * what brokerkit stores (a 36-character id, type, body; no `time` field, as brokerkit's own v7 ids carry
 * the time) instead of one `data` field: the fair twin.
 */
async function queueRaw(sameFields = false): Promise<Measurement> {
  const q = name('q');
  const producer = await raw();
  const consumer = await raw();
  try {
    await producer.xgroup('CREATE', q, 'g', '0', 'MKSTREAM');
    const samples: number[] = [];
    let stop = false;
    const reading = (async () => {
      while (!stop) {
        const reply = (await consumer.xreadgroup(
          'GROUP',
          'g',
          'c',
          'COUNT',
          WINDOW,
          'BLOCK',
          200,
          'STREAMS',
          q,
          '>',
        )) as [string, [string, string[]][]][] | null;
        if (!reply) continue;
        const ids: string[] = [];
        for (const [, entries] of reply) {
          for (const [id, fields] of entries) {
            const body = sameFields ? fields[5]! : fields[1]!;
            samples.push(performance.now() - (JSON.parse(body) as { t: number }).t);
            ids.push(id);
          }
        }
        await consumer.xack(q, 'g', ...ids);
      }
    })();
    const start = performance.now();
    await pipelined(JOBS, WINDOW, () => {
      const job = JSON.stringify({ t: performance.now(), p: payload1kText });
      return sameFields
        ? producer.xadd(q, '*', 'id', randomUUID(), 'type', 'application/json', 'body', job)
        : producer.xadd(q, '*', 'data', job);
    });
    await until(() => samples.length, JOBS);
    const ms = elapsedMs(start);
    stop = true;
    await reading;
    return result(samples, ms);
  } finally {
    producer.disconnect();
    consumer.disconnect();
  }
}

async function queueBullmq(): Promise<Measurement> {
  const q = name('bull');
  const { port } = await privateServer();
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const queue = new Queue(q, { connection });
  const samples: number[] = [];
  const worker = new Worker(
    q,
    async (job) => {
      samples.push(performance.now() - (job.data as { t: number }).t);
    },
    { connection, concurrency: CONCURRENCY },
  );
  try {
    await worker.waitUntilReady();
    const start = performance.now();
    await pipelined(JOBS, WINDOW, () =>
      queue.add(
        'job',
        { t: performance.now(), p: payload1kText },
        { removeOnComplete: true, removeOnFail: true },
      ),
    );
    await until(() => samples.length, JOBS);
    return result(samples, elapsedMs(start), 'concurrency 64, removeOnComplete');
  } finally {
    await worker.close();
    await queue.close();
  }
}

// -- work queue latency, one job at a time ----------------------------------------------------

const LATENCY_N = 2_000;

async function oneAtATime(send: (resolve: () => void) => Promise<unknown>): Promise<Measurement> {
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < LATENCY_N; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => void send(resolve));
    samples.push(performance.now() - t0);
  }
  return {
    messages: LATENCY_N,
    perSecond: (LATENCY_N / elapsedMs(start)) * 1000,
    ...latencySummary(samples),
  };
}

async function latencyBrokerkit(): Promise<Measurement> {
  const q = name('l');
  return withBroker(async (broker) => {
    let arrived: (() => void) | undefined;
    await broker.consume(q, () => arrived?.());
    return oneAtATime((resolve) => {
      arrived = resolve;
      return broker.send(q, payload1k);
    });
  });
}

async function latencyRaw(): Promise<Measurement> {
  const q = name('l');
  const producer = await raw();
  const consumer = await raw();
  try {
    await producer.xgroup('CREATE', q, 'g', '0', 'MKSTREAM');
    let arrived: (() => void) | undefined;
    let stop = false;
    const reading = (async () => {
      while (!stop) {
        const reply = (await consumer.xreadgroup(
          'GROUP',
          'g',
          'c',
          'COUNT',
          1,
          'BLOCK',
          200,
          'STREAMS',
          q,
          '>',
        )) as [string, [string, string[]][]][] | null;
        if (!reply) continue;
        const id = reply[0]![1][0]![0];
        arrived?.();
        await consumer.xack(q, 'g', id);
      }
    })();
    const m = await oneAtATime((resolve) => {
      arrived = resolve;
      return producer.xadd(q, '*', 'data', Buffer.from(payload1k));
    });
    stop = true;
    await reading;
    return m;
  } finally {
    producer.disconnect();
    consumer.disconnect();
  }
}

async function latencyBullmq(): Promise<Measurement> {
  const q = name('bull-l');
  const { port } = await privateServer();
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const queue = new Queue(q, { connection });
  let arrived: (() => void) | undefined;
  const worker = new Worker(q, async () => arrived?.(), { connection });
  try {
    await worker.waitUntilReady();
    return await oneAtATime((resolve) => {
      arrived = resolve;
      return queue.add('job', { p: payload1kText }, { removeOnComplete: true, removeOnFail: true });
    });
  } finally {
    await worker.close();
    await queue.close();
  }
}

// -- events: publish → group ------------------------------------------------------------------

const EVENTS = 20_000;

async function groupBrokerkit(): Promise<Measurement> {
  const t = name('ev').replace(/-/g, '');
  return withBroker(async (broker) => {
    const samples: number[] = [];
    await broker.subscribe(
      `${t}.>`,
      (m) => void samples.push(performance.now() - (m.data as { t: number }).t),
      {
        group: 'flow',
        concurrency: CONCURRENCY,
        prefetch: WINDOW,
      },
    );
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () =>
      broker.publish(`${t}.created`, { t: performance.now(), p: payload1kText }),
    );
    await until(() => samples.length, EVENTS);
    return result(samples, elapsedMs(start), 'routed to the group stream by the publish script');
  });
}

// -- publish, confirmed ------------------------------------------------------------------------

async function publishBrokerkit(): Promise<Measurement> {
  const t = name('p').replace(/-/g, '');
  return withBroker(async (broker) => {
    // The group exists, its member is gone: each event is stored once, in the group's stream,
    // and nothing in this process consumes meanwhile (as on the raw side).
    const sub = await broker.subscribe(`${t}.>`, () => undefined, { group: 'sink' });
    await sub.close();
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () => broker.publish(`${t}.x`, payload1k));
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000, notes: 'to one group: one entry per event' };
  });
}

async function publishRaw(): Promise<Measurement> {
  const s = name('p');
  const redis = await raw();
  try {
    const body = Buffer.from(payload1k);
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () => redis.xadd(s, 'MAXLEN', '~', '100000', '*', 'body', body));
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  } finally {
    redis.disconnect();
  }
}

/** The raw client writing what brokerkit stores per event: topic, a 36-character id, content type, body. */
async function publishRawFields(): Promise<Measurement> {
  const s = name('p');
  const redis = await raw();
  try {
    const body = Buffer.from(payload1k);
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () =>
      redis.xadd(
        s,
        'MAXLEN',
        '~',
        '100000',
        '*',
        'topic',
        `${s}.x`,
        'id',
        randomUUID(),
        'type',
        'application/octet-stream',
        'body',
        body,
      ),
    );
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  } finally {
    redis.disconnect();
  }
}

async function sendBrokerkit(): Promise<Measurement> {
  const q = name('s');
  return withBroker(async (broker) => {
    await broker.send(q, 'create');
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () => broker.send(q, payload1k));
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  });
}

async function sendRaw(): Promise<Measurement> {
  const q = name('s');
  const redis = await raw();
  try {
    const body = Buffer.from(payload1k);
    await redis.xgroup('CREATE', q, 'g', '0', 'MKSTREAM');
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () => redis.xadd(q, '*', 'body', body));
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  } finally {
    redis.disconnect();
  }
}

/** The raw client writing what brokerkit writes per message: a 36-character id, content type, body. */
async function sendRawFields(): Promise<Measurement> {
  const q = name('s');
  const redis = await raw();
  try {
    const body = Buffer.from(payload1k);
    await redis.xgroup('CREATE', q, 'g', '0', 'MKSTREAM');
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () =>
      redis.xadd(q, '*', 'id', randomUUID(), 'type', 'application/octet-stream', 'body', body),
    );
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  } finally {
    redis.disconnect();
  }
}

async function addBullmq(): Promise<Measurement> {
  const q = name('bull-add');
  const { port } = await privateServer();
  const queue = new Queue(q, { connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null } });
  try {
    await queue.waitUntilReady();
    const start = performance.now();
    await pipelined(EVENTS, WINDOW, () => queue.add('job', { p: payload1kText }, { removeOnComplete: true }));
    const ms = elapsedMs(start);
    return { messages: EVENTS, perSecond: (EVENTS / ms) * 1000 };
  } finally {
    await queue.close();
  }
}

const queues = interleaved({
  raw: () => queueRaw(),
  fields: () => queueRaw(true),
  brokerkit: queueBrokerkit,
  bullmq: queueBullmq,
});
const latency = interleaved({ raw: latencyRaw, brokerkit: latencyBrokerkit, bullmq: latencyBullmq });
const sends = interleaved({
  raw: sendRaw,
  fields: sendRawFields,
  brokerkit: sendBrokerkit,
  bullmq: addBullmq,
});
const publishes = interleaved({ raw: publishRaw, fields: publishRawFields, brokerkit: publishBrokerkit });
const groups = interleaved({ raw: () => queueRaw(), brokerkit: groupBrokerkit });

const WQ = 'redis work queue 1KiB, send→handler (64 at once)';
const LAT = 'redis work queue send→handler latency, one at a time';
const SEND = 'redis send confirmed 1KiB';
const PUB = 'redis publish confirmed 1KiB';
const GROUP = 'redis publish→handler (group) 1KiB';

/** Scenarios of this suite. */
export const scenarios: Scenario[] = [
  { suite: 'redis', workload: WQ, subject: RAW, run: queues.raw! },
  {
    suite: 'redis',
    workload: WQ,
    subject: 'ioredis (raw, same fields)',
    baseline: RAW,
    run: queues.fields!,
  },
  { suite: 'redis', workload: WQ, subject: 'brokerkit', baseline: RAW, run: queues.brokerkit! },
  {
    suite: 'redis',
    workload: WQ,
    subject: 'brokerkit vs raw, same fields',
    baseline: 'ioredis (raw, same fields)',
    run: queues.brokerkit!,
  },
  {
    suite: 'redis',
    workload: WQ,
    subject: `brokerkit vs ${BULLMQ}`,
    baseline: BULLMQ,
    run: queues.brokerkit!,
  },
  { suite: 'redis', workload: WQ, subject: BULLMQ, baseline: RAW, run: queues.bullmq! },
  { suite: 'redis', workload: LAT, subject: RAW, run: latency.raw! },
  { suite: 'redis', workload: LAT, subject: 'brokerkit', baseline: RAW, run: latency.brokerkit! },
  { suite: 'redis', workload: LAT, subject: BULLMQ, baseline: RAW, run: latency.bullmq! },
  { suite: 'redis', workload: SEND, subject: RAW, run: sends.raw! },
  {
    suite: 'redis',
    workload: SEND,
    subject: 'ioredis (raw, same fields)',
    baseline: RAW,
    run: sends.fields!,
  },
  { suite: 'redis', workload: SEND, subject: 'brokerkit', baseline: RAW, run: sends.brokerkit! },
  { suite: 'redis', workload: SEND, subject: `${BULLMQ} (Queue.add)`, baseline: RAW, run: sends.bullmq! },
  { suite: 'redis', workload: PUB, subject: RAW, run: publishes.raw! },
  {
    suite: 'redis',
    workload: PUB,
    subject: 'ioredis (raw, same fields)',
    baseline: RAW,
    run: publishes.fields!,
  },
  { suite: 'redis', workload: PUB, subject: 'brokerkit', baseline: RAW, run: publishes.brokerkit! },
  {
    suite: 'redis',
    workload: PUB,
    subject: 'brokerkit vs raw, same fields',
    baseline: 'ioredis (raw, same fields)',
    run: publishes.brokerkit!,
  },
  { suite: 'redis', workload: GROUP, subject: RAW, run: groups.raw! },
  { suite: 'redis', workload: GROUP, subject: 'brokerkit', baseline: RAW, run: groups.brokerkit! },
];
