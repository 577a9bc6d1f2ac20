/**
 * Request / reply: brokerkit's `request` + `respond` against the raw clients doing the same in the
 * same run — nats.js `nc.request` with a `msg.respond` responder, and an amqplib direct reply-to
 * client (one channel consuming `amq.rabbitmq.reply-to`, correlation ids) with a plain consumer
 * answering by `sendToQueue(replyTo)`. Requester and responder are separate connections on both
 * sides, the payload is echoed, and the raw RabbitMQ client routes through a topic exchange and a
 * bound queue as brokerkit does, so the broker does the same work for both.
 *
 * Redis: brokerkit against a raw ioredis client doing the same over lists (see `redisRaw`).
 *
 * Two workloads per broker: throughput with 64 requests in flight (requests/s, p50/p99 under
 * load) and latency with one in flight (p50/p99 of a round trip), each after an untimed warm-up
 * ({@link WARMUP}). `npm run bench -- request`.
 */
import { connect as natsConnect, headers as natsHeaders } from '@nats-io/transport-node';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { elapsedMs, latencySummary, pipelined } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const NATS_HOST = '127.0.0.1';
const NATS_PORT = 4222;
const NATS_URL = `nats://${NATS_HOST}:${NATS_PORT}`;
const RABBIT_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const RABBIT = new URL(RABBIT_URL);
const natsRequires = [{ name: 'nats-server', host: NATS_HOST, port: NATS_PORT }];
const rabbitRequires = [{ name: 'RabbitMQ', host: RABBIT.hostname, port: Number(RABBIT.port || 5672) }];

const NATS_RAW = 'nats.js (raw)';
const NATS_RAW_HEADERS = 'nats.js (raw, same headers)';
const AMQP_RAW = 'amqplib direct reply-to (raw)';
const AMQP_RAW_PROPERTIES = 'amqplib direct reply-to (raw, same properties)';
const BROKERKIT = 'brokerkit';

const WINDOW = 64;
const THROUGHPUT_N = { nats: 20_000, rabbitmq: 10_000, memory: 50_000 };
const LATENCY_N = 2_000;
const TIMEOUT_MS = 30_000;
/** Rounds per workload, subjects interleaved, best round kept: the machine is shared and drifts. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const payload = new Uint8Array(256).fill(120);

let serial = 0;
function topic(prefix: string): string {
  return `benchrr.${prefix}${process.pid.toString(36)}x${(serial++).toString(36)}`;
}

/**
 * Untimed requests before each timed run (`BENCH_WARMUP`). Every run opens new connections and
 * the harness runs `gc()` between subjects, and V8 optimises again in each run: `--trace-opt`
 * showed ~65 TurboFan compiles per brokerkit run and ~29 per raw run after the first (Node's own
 * stream and timer functions among them, deoptimised on "wrong map" / "code dependencies"), on
 * V8's worker threads plus installing the code on the main one.
 * Spread over the latency workload's 2,000 requests that warm-up showed as Node CPU per request
 * (2026-12-02, 1 in flight, 3 rounds of 3,000: without a warm-up raw ~130 us and brokerkit ~172 us,
 * after 3,000 untimed requests ~85 and ~99 us); over the 64-in-flight workload's 10,000 it would be
 * a fifth of that per request. A difference that is compiling, not the cost of a request.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1_000);

/**
 * Run `one()` as the workload says: {@link WARMUP} untimed, then `window` in flight for `total`,
 * timing each round trip. The notes carry the process's CPU per request over the timed part
 * (requester and responder both live in this process).
 */
async function drive(total: number, window: number, one: () => Promise<unknown>): Promise<Measurement> {
  if (WARMUP > 0) await pipelined(WARMUP, window, one);
  const samples = new Array<number>(total);
  let i = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await pipelined(total, window, async () => {
    const t0 = performance.now();
    await one();
    samples[i++] = performance.now() - t0;
  });
  const ms = elapsedMs(start);
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / total;
  return {
    messages: total,
    perSecond: (total / ms) * 1000,
    ...latencySummary(samples),
    notes: `Node CPU ${cpuUs.toFixed(0)} us/request`,
  };
}

/**
 * Subjects of one workload run round-robin for {@link ROUNDS} rounds; each keeps its best round
 * (by throughput, or by p50 for the latency workload). The non-baseline subjects get their added
 * p50 in the notes.
 */
function interleaved(
  baseline: string,
  byLatency: boolean,
  subjects: Record<string, () => Promise<Measurement>>,
): Record<string, () => Promise<Measurement>> {
  let all: Promise<Record<string, Measurement>> | undefined;
  const better = (a: Measurement, b: Measurement | undefined) =>
    b === undefined ||
    (byLatency ? (a.p50Ms ?? Infinity) < (b.p50Ms ?? Infinity) : (a.perSecond ?? 0) > (b.perSecond ?? 0));
  const runAll = async () => {
    const best: Record<string, Measurement> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(subjects)) {
        global.gc?.();
        const m = await run();
        if (better(m, best[name])) best[name] = m;
      }
    }
    const base = best[baseline];
    for (const [name, m] of Object.entries(best)) {
      const notes = [`best of ${ROUNDS}, interleaved`];
      if (m.notes !== undefined) notes.push(m.notes);
      if (name !== baseline && base?.p50Ms !== undefined && m.p50Ms !== undefined) {
        const added = m.p50Ms - base.p50Ms;
        notes.unshift(`p50 ${added >= 0 ? '+' : ''}${added.toFixed(3)} ms vs ${baseline}`);
      }
      m.notes = notes.join(', ');
    }
    return best;
  };
  return Object.fromEntries(
    Object.keys(subjects).map((name) => [name, async () => (await (all ??= runAll()))[name]!]),
  );
}

// -- NATS -------------------------------------------------------------------------------------

function rawNats(): Promise<NatsConnection> {
  // Same client settings as the adapter (it turns off per-request async stack traces).
  return natsConnect({ servers: `${NATS_HOST}:${NATS_PORT}`, noAsyncTraces: true });
}

async function natsBrokerkit(total: number, window: number): Promise<Measurement> {
  const subject = topic('n');
  const responder: Broker = await connect(NATS_URL);
  const requester: Broker = await connect(NATS_URL);
  try {
    await responder.respond(subject, (m) => m.data, { concurrency: window });
    await requester.request(subject, payload, { timeoutMs: TIMEOUT_MS });
    return await drive(total, window, () => requester.request(subject, payload, { timeoutMs: TIMEOUT_MS }));
  } finally {
    await requester.close();
    await responder.close();
  }
}

/** The raw client; with `sameHeaders` it writes the headers brokerkit writes on requests and replies. */
async function natsRaw(total: number, window: number, sameHeaders: boolean): Promise<Measurement> {
  const subject = topic('n');
  const responder = await rawNats();
  const requester = await rawNats();
  let n = 0;
  const withHeaders = (extra: boolean) => {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', `raw-${process.pid}-${n++}`);
    h.set('Content-Type', 'application/octet-stream');
    h.set('x-brokerkit-timestamp', String(Date.now()));
    if (extra) h.set('x-brokerkit-request', '1');
    return h;
  };
  try {
    responder.subscribe(subject, {
      callback: (_error, msg: Msg) => {
        if (sameHeaders) msg.respond(msg.data, { headers: withHeaders(false) });
        else msg.respond(msg.data);
      },
    });
    await responder.flush();
    const one = () =>
      requester.request(
        subject,
        payload,
        sameHeaders ? { timeout: TIMEOUT_MS, headers: withHeaders(true) } : { timeout: TIMEOUT_MS },
      );
    await one();
    return await drive(total, window, one);
  } finally {
    await requester.close();
    await responder.close();
  }
}

// -- RabbitMQ ---------------------------------------------------------------------------------

/** A direct reply-to requester: one channel, one consumer on the pseudo-queue, replies by correlation id. */
class RawAmqpRequester {
  readonly #pending = new Map<string, (m: ConsumeMessage) => void>();
  #next = 0;

  private constructor(
    private readonly model: ChannelModel,
    private readonly channel: Channel,
  ) {}

  static async open(): Promise<RawAmqpRequester> {
    const model = await amqp.connect(RABBIT_URL, { noDelay: true });
    const channel = await model.createChannel();
    const requester = new RawAmqpRequester(model, channel);
    await channel.consume(
      'amq.rabbitmq.reply-to',
      (m) => {
        if (!m) return;
        const id = m.properties.correlationId as string;
        const done = requester.#pending.get(id);
        requester.#pending.delete(id);
        done?.(m);
      },
      { noAck: true },
    );
    return requester;
  }

  request(
    exchange: string,
    routingKey: string,
    body: Buffer,
    sameProperties: boolean,
  ): Promise<ConsumeMessage> {
    const id = (this.#next++).toString(36);
    const properties = {
      replyTo: 'amq.rabbitmq.reply-to',
      correlationId: id,
      contentType: 'application/octet-stream',
    };
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.channel.publish(
        exchange,
        routingKey,
        body,
        sameProperties
          ? {
              ...properties,
              mandatory: true,
              expiration: String(TIMEOUT_MS),
              messageId: `raw-${process.pid}-${id}`,
              timestamp: Math.floor(Date.now() / 1000),
            }
          : properties,
      );
    });
  }

  async close(): Promise<void> {
    await this.model.close();
  }
}

async function amqpBrokerkit(total: number, window: number): Promise<Measurement> {
  const subject = topic('r');
  const responder: Broker = await connect(RABBIT_URL);
  const requester: Broker = await connect(RABBIT_URL);
  try {
    await responder.respond(subject, (m) => m.data, { concurrency: window });
    await requester.request(subject, payload, { timeoutMs: TIMEOUT_MS });
    return await drive(total, window, () => requester.request(subject, payload, { timeoutMs: TIMEOUT_MS }));
  } finally {
    await requester.close();
    await responder.close();
  }
}

/**
 * With `sameProperties`, the properties brokerkit sends: on requests `mandatory`, `expiration`, a
 * message id and timestamp; on replies a message id and timestamp (neither sets a delivery mode).
 */
async function amqpRaw(total: number, window: number, sameProperties: boolean): Promise<Measurement> {
  const subject = topic('r');
  const exchange = 'bench.rr.raw';
  const model = await amqp.connect(RABBIT_URL, { noDelay: true });
  const requester = await RawAmqpRequester.open();
  try {
    const channel = await model.createChannel();
    await channel.assertExchange(exchange, 'topic', { durable: false, autoDelete: true });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, exchange, subject);
    await channel.prefetch(window);
    await channel.consume(queue, (m) => {
      if (!m) return;
      const properties = {
        correlationId: m.properties.correlationId as string,
        contentType: 'application/octet-stream',
      };
      channel.sendToQueue(
        m.properties.replyTo as string,
        m.content,
        sameProperties
          ? {
              ...properties,
              messageId: `raw-reply-${properties.correlationId}`,
              timestamp: Math.floor(Date.now() / 1000),
            }
          : properties,
      );
      channel.ack(m);
    });
    const body = Buffer.from(payload);
    const one = () => requester.request(exchange, subject, body, sameProperties);
    await one();
    return await drive(total, window, one);
  } finally {
    await requester.close();
    await model.close();
  }
}

// -- Redis ------------------------------------------------------------------------------------

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = new URL(REDIS_URL);
const redisRequires = [{ name: 'redis-server', host: REDIS.hostname, port: Number(REDIS.port || 6379) }];
const REDIS_RAW = 'ioredis lists (raw)';
const REDIS_N = 20_000;

async function redisBrokerkit(total: number, window: number): Promise<Measurement> {
  const subject = topic('x');
  const responder: Broker = await connect(REDIS_URL);
  const requester: Broker = await connect(REDIS_URL);
  try {
    await responder.respond(subject, (m) => m.data, { concurrency: window });
    await requester.request(subject, payload, { timeoutMs: TIMEOUT_MS });
    return await drive(total, window, () => requester.request(subject, payload, { timeoutMs: TIMEOUT_MS }));
  } finally {
    await requester.close();
    await responder.close();
  }
}

/** One list element as a raw client would frame it: a JSON head (correlation id, reply list) and the body. */
function rawFrame(head: unknown[], body: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(head));
  const frame = Buffer.allocUnsafe(4 + json.length + body.byteLength);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, 4);
  frame.set(body, 4 + json.length);
  return frame;
}

function rawUnframe(frame: Buffer): [unknown[], Buffer] {
  const n = frame.readUInt32BE(0);
  return [JSON.parse(frame.toString('utf8', 4, 4 + n)) as unknown[], frame.subarray(4 + n)];
}

/**
 * The raw ioredis idiom brokerkit's adapter follows, without its routing: the requester `LPUSH`es
 * framed requests onto the responder's list and reads one reply list with one blocking
 * connection (`BLMPOP … COUNT`), matching correlation ids; the responder pops up to `window`
 * requests per `BLMPOP` on its own blocking connection and `RPUSH`es each reply. Four connections,
 * as brokerkit uses (a command and a blocking one per side).
 */
async function redisRaw(total: number, window: number): Promise<Measurement> {
  const requests = `benchrr:raw:q:${process.pid}:${serial++}`;
  const replies = `benchrr:raw:r:${process.pid}:${serial++}`;
  const options = { maxRetriesPerRequest: null, noDelay: true } as const;
  const reqCmd = new Redis(REDIS_URL, options);
  const reqRead = new Redis(REDIS_URL, options);
  const resCmd = new Redis(REDIS_URL, options);
  const resRead = new Redis(REDIS_URL, options);
  const pending = new Map<string, (body: Buffer) => void>();
  let stop = false;
  const loops: Promise<void>[] = [];
  try {
    loops.push(
      (async () => {
        while (!stop) {
          const r = (await resRead.callBuffer('BLMPOP', 1, 1, requests, 'RIGHT', 'COUNT', window)) as
            [Buffer, Buffer[]] | null;
          if (!r) continue;
          for (const frame of r[1]) {
            const [head, body] = rawUnframe(frame);
            void resCmd.rpush(head[1] as string, rawFrame([head[0]], body));
          }
        }
      })(),
      (async () => {
        while (!stop) {
          const r = (await reqRead.callBuffer('BLMPOP', 1, 1, replies, 'LEFT', 'COUNT', 512)) as
            [Buffer, Buffer[]] | null;
          if (!r) continue;
          for (const frame of r[1]) {
            const [head, body] = rawUnframe(frame);
            const done = pending.get(head[0] as string);
            pending.delete(head[0] as string);
            done?.(body);
          }
        }
      })(),
    );
    let next = 0;
    const one = () =>
      new Promise<Buffer>((resolve) => {
        const id = (next++).toString(36);
        pending.set(id, resolve);
        void reqCmd.lpush(requests, rawFrame([id, replies], payload));
      });
    await one();
    return await drive(total, window, one);
  } finally {
    stop = true;
    await Promise.allSettled(loops);
    for (const c of [reqCmd, reqRead, resCmd, resRead]) c.disconnect();
  }
}

// -- memory -----------------------------------------------------------------------------------

async function memoryBrokerkit(total: number, window: number): Promise<Measurement> {
  const subject = topic('m');
  const broker = await connect('memory://bench-rr');
  try {
    await broker.respond(subject, (m) => m.data, { concurrency: window });
    return await drive(total, window, () => broker.request(subject, payload));
  } finally {
    await broker.close();
  }
}

// -- scenarios --------------------------------------------------------------------------------

/** The scenarios of one workload: its subjects, interleaved, the first one the baseline. */
function workload(
  name: string,
  requires: Scenario['requires'],
  byLatency: boolean,
  subjects: Record<string, () => Promise<Measurement>>,
): Scenario[] {
  const names = Object.keys(subjects);
  const baseline = names[0]!;
  // A raw twin carrying brokerkit's properties, where the workload has one: brokerkit's row shows
  // the ratio against it too.
  const twin = names.find((n) => n !== baseline && n !== BROKERKIT);
  const runs = interleaved(baseline, byLatency, subjects);
  return names.map((subject) => ({
    suite: 'request',
    workload: name,
    subject,
    baseline: subject === baseline ? undefined : baseline,
    alsoComparedWith: subject === BROKERKIT ? twin : undefined,
    requires,
    run: runs[subject]!,
  }));
}

/** Scenarios of this suite (`npm run bench -- request`). */
export const scenarios: Scenario[] = [
  ...workload(`nats request/reply 256B, ${WINDOW} in flight`, natsRequires, false, {
    [NATS_RAW]: () => natsRaw(THROUGHPUT_N.nats, WINDOW, false),
    [NATS_RAW_HEADERS]: () => natsRaw(THROUGHPUT_N.nats, WINDOW, true),
    [BROKERKIT]: () => natsBrokerkit(THROUGHPUT_N.nats, WINDOW),
  }),
  ...workload('nats request/reply latency, 1 in flight', natsRequires, true, {
    [NATS_RAW]: () => natsRaw(LATENCY_N, 1, false),
    [NATS_RAW_HEADERS]: () => natsRaw(LATENCY_N, 1, true),
    [BROKERKIT]: () => natsBrokerkit(LATENCY_N, 1),
  }),
  ...workload(`rabbitmq request/reply 256B, ${WINDOW} in flight`, rabbitRequires, false, {
    [AMQP_RAW]: () => amqpRaw(THROUGHPUT_N.rabbitmq, WINDOW, false),
    [AMQP_RAW_PROPERTIES]: () => amqpRaw(THROUGHPUT_N.rabbitmq, WINDOW, true),
    [BROKERKIT]: () => amqpBrokerkit(THROUGHPUT_N.rabbitmq, WINDOW),
  }),
  ...workload('rabbitmq request/reply latency, 1 in flight', rabbitRequires, true, {
    [AMQP_RAW]: () => amqpRaw(LATENCY_N, 1, false),
    [AMQP_RAW_PROPERTIES]: () => amqpRaw(LATENCY_N, 1, true),
    [BROKERKIT]: () => amqpBrokerkit(LATENCY_N, 1),
  }),
  ...workload(`redis request/reply 256B, ${WINDOW} in flight`, redisRequires, false, {
    [REDIS_RAW]: () => redisRaw(REDIS_N, WINDOW),
    [BROKERKIT]: () => redisBrokerkit(REDIS_N, WINDOW),
  }),
  ...workload('redis request/reply latency, 1 in flight', redisRequires, true, {
    [REDIS_RAW]: () => redisRaw(LATENCY_N, 1),
    [BROKERKIT]: () => redisBrokerkit(LATENCY_N, 1),
  }),
  {
    suite: 'request',
    workload: `memory request/reply 256B, ${WINDOW} in flight`,
    subject: BROKERKIT,
    run: () => memoryBrokerkit(THROUGHPUT_N.memory, WINDOW),
  },
];
