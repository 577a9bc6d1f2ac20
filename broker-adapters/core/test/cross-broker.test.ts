// Tracing and CloudEvents through every broker, with the real OpenTelemetry SDK and, where the
// broker has one, a foreign client (raw amqplib, a plain NATS connection, plain ioredis) on the other end: one
// trace id from publisher to handler, retries and dead letters as span events, a foreign consumer
// reading a valid traceparent and CloudEvent, a foreign producer's traceparent and CloudEvent
// continuing in brokerkit. The tests are core's (tracing and CloudEvents are decided in core);
// each broker only carries headers, which is what the foreign clients check.
import t from 'tap';
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import { connect as natsConnect, headers as natsHeaders } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { ROOT_CONTEXT, SpanKind, context, createTraceState, trace } from '@opentelemetry/api';
import type { Context, SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CloudEvent, HTTP } from 'cloudevents';
import { TOPIC_ROOT, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { PermanentError } from '../src/errors.js';
import { connect } from '../src/connect.js';
import { TRACE_EVENT } from '../src/tracing.js';
import type { Broker, CloudEventsBinding, Message } from '../src/types.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
const testTracer = provider.getTracer('test');

const WAIT_MS = 15_000;
const RABBIT_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A message as a client that knows nothing of brokerkit receives it. */
interface ForeignMessage {
  readonly headers: Record<string, string>;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** A plain client of the broker's own protocol. */
interface ForeignClient {
  /** Receive what is published to `topic` from now on. */
  listen(topic: string): Promise<ForeignMessage[]>;
  publish(topic: string, body: Buffer, headers: Record<string, string>, contentType?: string): Promise<void>;
  close(): Promise<void>;
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly service?: { host: string; port: number };
  readonly binding: CloudEventsBinding;
  /** Retry backoff the broker handles well (NATS naks are timed by the server). */
  readonly retryInitialMs: number;
  readonly foreign?: () => Promise<ForeignClient>;
}

/** Raw amqplib on brokerkit's topic exchange: an exclusive queue bound to the topic, a confirm channel. */
async function amqpClient(): Promise<ForeignClient> {
  const model = await amqp.connect(RABBIT_URL, { noDelay: true });
  model.on('error', () => {});
  const exchange = 'brokerkit.events';
  const channel = await model.createConfirmChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  return {
    async listen(topic) {
      const received: ForeignMessage[] = [];
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      await channel.bindQueue(queue, exchange, topic);
      await channel.consume(
        queue,
        (m: ConsumeMessage | null) => {
          if (!m) return;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.properties.headers ?? {})) headers[k] = String(v);
          received.push({
            headers,
            contentType: m.properties.contentType as string | undefined,
            body: m.content,
          });
        },
        { noAck: true },
      );
      return received;
    },
    async publish(topic, body, headers, contentType) {
      channel.publish(exchange, topic, body, { headers, contentType, persistent: true });
      await channel.waitForConfirms();
    },
    close: () => model.close().catch(() => {}),
  };
}

/** A plain NATS connection: core subscription and core publish, headers as they are on the wire. */
async function natsClient(): Promise<ForeignClient> {
  const nc = await natsConnect({ servers: new URL(NATS_URL).host });
  return {
    async listen(topic) {
      const received: ForeignMessage[] = [];
      nc.subscribe(topic, {
        callback: (_error, m) => {
          const headers: Record<string, string> = {};
          if (m.headers) for (const [k, values] of m.headers) headers[k] = values[0] ?? '';
          received.push({ headers, contentType: headers['Content-Type'], body: Buffer.from(m.data) });
        },
      });
      await nc.flush();
      return received;
    },
    async publish(topic, body, headers, contentType) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      if (contentType !== undefined) h.set('Content-Type', contentType);
      nc.publish(topic, body, { headers: h });
      await nc.flush();
    },
    close: () => nc.close(),
  };
}

/**
 * Plain ioredis on the adapter's documented layout (its README): an event of `<token>.…` is an entry of
 * the stream `bk:ev:<token>` with `topic`, `type`, `body` and `h:<name>` fields, written while the
 * listen key `bk:listen:<token>` exists. Listening sets that key and reads the stream (XRANGE, polled);
 * publishing is an XADD there, which brokerkit's ephemeral subscribers read.
 */
async function redisClient(): Promise<ForeignClient> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const polls: NodeJS.Timeout[] = [];
  const streamOf = (topic: string) => `bk:ev:${topic.split('.')[0]}`;
  return {
    async listen(topic) {
      const received: ForeignMessage[] = [];
      const token = topic.split('.')[0]!;
      await redis.set(`bk:listen:${token}`, '1', 'PX', 60_000);
      let after = '-';
      let busy = false;
      const poll = setInterval(() => {
        if (busy) return;
        busy = true;
        redis
          .xrangeBuffer(streamOf(topic), after, '+')
          .then((entries) => {
            for (const [rawId, fields] of entries) {
              after = `(${rawId.toString()}`;
              const entry = new Map<string, Buffer>();
              for (let i = 0; i + 1 < fields.length; i += 2) entry.set(fields[i]!.toString(), fields[i + 1]!);
              if (entry.get('topic')?.toString() !== topic) continue;
              const headers: Record<string, string> = {};
              for (const [key, value] of entry)
                if (key.startsWith('h:')) headers[key.slice(2)] = value.toString();
              received.push({
                headers,
                contentType: entry.get('type')?.toString(),
                body: entry.get('body')!,
              });
            }
          })
          .catch(() => {})
          .finally(() => (busy = false));
      }, 20);
      polls.push(poll);
      return received;
    },
    async publish(topic, body, headers, contentType) {
      const fields: (string | Buffer)[] = ['topic', topic];
      if (contentType !== undefined) fields.push('type', contentType);
      for (const [key, value] of Object.entries(headers)) fields.push(`h:${key}`, value);
      fields.push('body', body);
      await redis.xadd(streamOf(topic), '*', ...fields);
    },
    async close() {
      for (const poll of polls) clearInterval(poll);
      await redis.quit().catch(() => {});
    },
  };
}

const TARGETS: readonly Target[] = [
  { name: 'memory', url: 'memory://', binding: 'ce-headers', retryInitialMs: 10 },
  {
    name: 'rabbitmq',
    url: RABBIT_URL,
    service: { host: new URL(RABBIT_URL).hostname, port: Number(new URL(RABBIT_URL).port || 5672) },
    binding: 'amqp',
    retryInitialMs: 20,
    foreign: amqpClient,
  },
  {
    name: 'nats',
    url: NATS_URL,
    service: { host: new URL(NATS_URL).hostname, port: Number(new URL(NATS_URL).port || 4222) },
    binding: 'ce-headers',
    retryInitialMs: 50,
    foreign: natsClient,
  },
  {
    name: 'redis',
    url: REDIS_URL,
    service: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) },
    binding: 'ce-headers',
    retryInitialMs: 20,
    foreign: redisClient,
  },
];

function spans(traceId: string, kind: SpanKind): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId && s.kind === kind);
}

function waitForSpans(traceId: string, kind: SpanKind, count: number): Promise<ReadableSpan[]> {
  return waitFor(
    () => {
      const found = spans(traceId, kind);
      return found.length >= count
        ? found.sort(
            (a, b) => Number(a.attributes['brokerkit.attempt']) - Number(b.attributes['brokerkit.attempt']),
          )
        : undefined;
    },
    { timeoutMs: WAIT_MS, message: () => `${count} span(s) of kind ${kind} in trace ${traceId}` },
  );
}

function randomHex(bytes: number): string {
  return Buffer.from(Array.from({ length: bytes }, () => Math.floor(Math.random() * 256))).toString('hex');
}

/** A context whose parent is a remote span with a tracestate, as a caller upstream would set it. */
function upstream(): { ctx: Context; parent: SpanContext } {
  const parent: SpanContext = {
    traceId: randomHex(16),
    spanId: randomHex(8),
    traceFlags: 1,
    isRemote: true,
    traceState: createTraceState('vendor=abc'),
  };
  return { ctx: trace.setSpanContext(ROOT_CONTEXT, parent), parent };
}

/** The same event as an HTTP-binding reader (the cloudevents SDK) would get it: ce- headers. */
function toSdkMessage(
  m: ForeignMessage,
  binding: CloudEventsBinding,
): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(m.headers)) {
    if (binding === 'amqp' && key.startsWith('cloudEvents_')) headers[`ce-${key.slice(12)}`] = value;
    else if (key.toLowerCase().startsWith('ce-')) headers[key.toLowerCase()] = value;
  }
  if (m.contentType !== undefined) headers['content-type'] = m.contentType;
  return { headers, body: m.body.toString('utf8') };
}

/** An SDK event's binary-mode headers as a foreign producer on this broker writes them. */
function fromSdkHeaders(
  binary: { headers: Record<string, unknown> },
  binding: CloudEventsBinding,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(binary.headers)) {
    if (key === 'content-type') {
      // AMQP: the content-type property; NATS: the binding's ce-datacontenttype header.
      if (binding === 'ce-headers') out['ce-datacontenttype'] = String(value);
      continue;
    }
    out[binding === 'amqp' ? `cloudEvents_${key.slice(3)}` : key] = String(value);
  }
  return out;
}

class Scope {
  readonly #brokers: Broker[] = [];
  readonly #names: string[] = [];
  readonly #clients: ForeignClient[] = [];

  constructor(
    readonly t: Tap,
    readonly target: Target,
  ) {
    t.teardown(() => this.#cleanup());
  }

  async broker(options?: Parameters<typeof connect>[1]): Promise<Broker> {
    // memory:// brokers of one test share a named instance, like connections to one server.
    const url = this.target.url === 'memory://' ? `memory://${this.#memoryName}` : this.target.url;
    const broker = await connect(url, options);
    broker.on('error', () => {});
    this.#brokers.push(broker);
    return broker;
  }

  readonly #memoryName = uniqueName('xb');

  async foreign(): Promise<ForeignClient> {
    const client = await this.target.foreign!();
    this.#clients.push(client);
    return client;
  }

  topic(...rest: string[]): string {
    return [TOPIC_ROOT, uniqueName('tr'), ...rest].join('.');
  }

  name(prefix: string): string {
    const name = uniqueName(prefix);
    this.#names.push(name);
    return name;
  }

  async #cleanup(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.close()));
    await Promise.allSettled(this.#brokers.map((b) => b.close()));
    if (this.#names.length === 0) return;
    const janitor = await this.broker();
    await Promise.allSettled(this.#names.map((n) => janitor.inspector!.deleteQueue(n)));
    await janitor.close();
  }
}

async function inSpan(publish: () => Promise<void>): Promise<SpanContext> {
  const root = testTracer.startSpan('request');
  try {
    await context.with(trace.setSpan(ROOT_CONTEXT, root), publish);
  } finally {
    root.end();
  }
  return root.spanContext();
}

for (const target of TARGETS) {
  t.test(target.name, async (t) => {
    if (target.service && !(await requireService(t, target.name, target.service.host, target.service.port)))
      return;

    t.test('one trace id from publisher through the broker to the handler', async (t) => {
      const s = new Scope(t, target);
      const broker = await s.broker();
      const topic = s.topic('created');
      const group = s.name('g');
      const queue = s.name('q');
      const handled: Message[] = [];
      await broker.subscribe(topic.replace(/\.created$/, '.*'), (m) => void handled.push(m), { group });
      await broker.consume(queue, (m) => void handled.push(m));

      const event = await inSpan(() => broker.publish(topic, { k: 'e' }));
      const command = await inSpan(() => broker.send(queue, { k: 'c' }));
      for (const [label, root, destination] of [
        ['publish → group', event, topic],
        ['send → consume', command, queue],
      ] as const) {
        const [consumer] = await waitForSpans(root.traceId, SpanKind.CONSUMER, 1);
        const [producer] = spans(root.traceId, SpanKind.PRODUCER);
        t.equal(
          producer?.parentSpanContext?.spanId,
          root.spanId,
          `${label}: producer span under the caller's span`,
        );
        t.equal(producer?.attributes['messaging.system'], target.name, `${label}: messaging.system`);
        t.equal(producer?.attributes['messaging.destination.name'], destination);
        t.equal(
          consumer?.parentSpanContext?.spanId,
          producer?.spanContext().spanId,
          `${label}: consumer's parent = producer`,
        );
        t.equal(consumer?.spanContext().traceId, root.traceId, `${label}: one trace id`);
        t.equal(consumer?.attributes['messaging.system'], target.name);
        t.equal(consumer?.attributes['messaging.destination.name'], destination);
      }
      t.equal(handled.length, 2);
    });

    t.test('retries are events on each attempt’s span; a dead letter keeps the trace context', async (t) => {
      const s = new Scope(t, target);
      const broker = await s.broker();
      const group = s.name('g');
      const topic = s.topic('paid');
      const retry = { attempts: 3, backoff: { initialMs: target.retryInitialMs, factor: 2, jitter: false } };
      await broker.subscribe(
        topic,
        (m) => {
          const k = (m.data as { k: string }).k;
          if (k === 'poison') throw new PermanentError('never valid');
          if (m.attempt < 3) throw new Error(`flaky ${m.attempt}`);
        },
        { group, retry },
      );
      const flaky = await inSpan(() => broker.publish(topic, { k: 'flaky' }));
      const attempts = await waitForSpans(flaky.traceId, SpanKind.CONSUMER, 3);
      const [producer] = spans(flaky.traceId, SpanKind.PRODUCER);
      t.same(
        attempts.map((a) => [a.attributes['brokerkit.attempt'], a.parentSpanContext?.spanId]),
        [1, 2, 3].map((n) => [n, producer?.spanContext().spanId]),
        'three attempts, each a child of the producer span',
      );
      t.same(
        attempts.map((a) => a.events.filter((e) => e.name === TRACE_EVENT.retry).length),
        [1, 1, 0],
        'a retry event on the failed attempts only',
      );
      t.same(
        attempts.map((a) => a.attributes['brokerkit.outcome']),
        ['retry', 'retry', 'ack'],
      );

      const poison = await inSpan(() => broker.publish(topic, { k: 'poison' }));
      const [dead] = await waitForSpans(poison.traceId, SpanKind.CONSUMER, 1);
      t.ok(
        dead?.events.some((e) => e.name === TRACE_EVENT.deadLetter),
        'dead_letter event',
      );
      const letters = await waitFor(
        async () => {
          const found = await broker.inspector!.peekDeadLetters(group, 10).catch(() => []);
          return found.length === 1 ? found : undefined;
        },
        { timeoutMs: WAIT_MS, message: 'one dead letter' },
      );
      const [poisonProducer] = spans(poison.traceId, SpanKind.PRODUCER);
      t.equal(
        letters[0]?.headers.traceparent,
        `00-${poison.traceId}-${poisonProducer?.spanContext().spanId}-01`,
        'the dead letter carries the original traceparent (a replay continues the trace)',
      );
    });

    t.test('CloudEvents round-trip: msg.cloudEvent, and the consumer span names the event', async (t) => {
      const s = new Scope(t, target);
      const broker = await s.broker();
      const queue = s.name('q');
      let received: Message | undefined;
      await broker.consume(queue, (m) => void (received = m));
      const root = await inSpan(() =>
        broker.send(
          queue,
          { orderId: 7 },
          { cloudEvent: { type: 'com.example.order.paid', source: '/billing', subject: 'o-7' } },
        ),
      );
      await waitFor(() => received, { timeoutMs: WAIT_MS });
      t.same(
        received!.cloudEvent,
        {
          specversion: '1.0',
          id: received!.id,
          source: '/billing',
          type: 'com.example.order.paid',
          time: received!.timestamp.toISOString(),
          subject: 'o-7',
          datacontenttype: 'application/json',
        },
        'id and time are the message’s own',
      );
      const [consumer] = await waitForSpans(root.traceId, SpanKind.CONSUMER, 1);
      t.match(consumer?.attributes, {
        'cloudevents.event_id': received!.id,
        'cloudevents.event_type': 'com.example.order.paid',
        'cloudevents.event_source': '/billing',
        'cloudevents.event_subject': 'o-7',
      });
    });

    if (!target.foreign) {
      t.comment(
        `${target.name}: no foreign client (in-process broker); its interop is in cloudevents.test.ts`,
      );
      return;
    }

    t.test('a foreign consumer sees a valid traceparent and tracestate', async (t) => {
      const s = new Scope(t, target);
      const broker = await s.broker();
      const client = await s.foreign();
      const topic = s.topic('seen');
      const inbox = await client.listen(topic);
      const { ctx, parent } = upstream();
      await context.with(ctx, () => broker.publish(topic, { k: 1 }));
      const [m] = await waitFor(() => (inbox.length > 0 ? inbox : undefined), { timeoutMs: WAIT_MS });
      const [producer] = spans(parent.traceId, SpanKind.PRODUCER);
      t.match(m!.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'a W3C traceparent');
      t.equal(
        m!.headers.traceparent,
        `00-${parent.traceId}-${producer?.spanContext().spanId}-01`,
        'of the producer span',
      );
      t.equal(m!.headers.tracestate, 'vendor=abc', 'and the tracestate');
    });

    t.test('a foreign traceparent continues the trace in brokerkit', async (t) => {
      const s = new Scope(t, target);
      const broker = await s.broker();
      const client = await s.foreign();
      const topic = s.topic('incoming');
      let active: SpanContext | undefined;
      await broker.subscribe(topic, () => void (active = trace.getActiveSpan()?.spanContext()));
      const traceId = randomHex(16);
      const spanId = randomHex(8);
      await client.publish(
        topic,
        Buffer.from('{"k":1}'),
        { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'them=1' },
        'application/json',
      );
      const [consumer] = await waitForSpans(traceId, SpanKind.CONSUMER, 1);
      t.equal(consumer?.parentSpanContext?.spanId, spanId, 'the consumer span’s parent is the foreign span');
      t.equal(consumer?.parentSpanContext?.traceState?.get('them'), '1', 'its tracestate kept');
      t.equal(active?.traceId, traceId, 'the handler runs in the foreign trace');
    });

    t.test(
      'CloudEvents interop: brokerkit → foreign client → SDK, and SDK → foreign client → brokerkit',
      async (t) => {
        const s = new Scope(t, target);
        const broker = await s.broker();
        const client = await s.foreign();
        const outTopic = s.topic('out');
        const inbox = await client.listen(outTopic);
        await broker.publish(
          outTopic,
          { orderId: 'o-1' },
          { cloudEvent: { type: 'com.example.order.created', source: 'urn:svc:orders', subject: 'o-1' } },
        );
        const [wire] = await waitFor(() => (inbox.length > 0 ? inbox : undefined), { timeoutMs: WAIT_MS });
        const prefix = target.binding === 'amqp' ? 'cloudEvents_' : 'ce-';
        t.equal(wire!.headers[`${prefix}specversion`], '1.0', `attributes as ${prefix}* on the wire`);
        const sdkMessage = toSdkMessage(wire!, target.binding);
        t.ok(HTTP.isEvent(sdkMessage), 'the SDK reads it as a CloudEvent');
        const event = HTTP.toEvent(sdkMessage) as CloudEvent<{ orderId: string }>;
        t.equal(event.validate(), true, 'a valid one');
        t.match(event, {
          specversion: '1.0',
          type: 'com.example.order.created',
          source: 'urn:svc:orders',
          subject: 'o-1',
          datacontenttype: 'application/json',
        });
        t.same(event.data, { orderId: 'o-1' });

        const inTopic = s.topic('in');
        let received: Message | undefined;
        await broker.subscribe(inTopic, (m) => void (received = m));
        const theirs = new CloudEvent({
          type: 'com.example.shipment.sent',
          source: 'https://example.com/shipping',
          subject: 'box-7',
          data: { box: 7 },
          region: 'eu',
        });
        const binary = HTTP.binary(theirs);
        const contentType = target.binding === 'amqp' ? String(binary.headers['content-type']) : undefined;
        await client.publish(
          inTopic,
          Buffer.from(String(binary.body)),
          fromSdkHeaders(binary, target.binding),
          contentType,
        );
        await waitFor(() => received, { timeoutMs: WAIT_MS });
        t.same(received!.cloudEvent, {
          specversion: '1.0',
          id: theirs.id,
          source: 'https://example.com/shipping',
          type: 'com.example.shipment.sent',
          time: theirs.time,
          subject: 'box-7',
          datacontenttype: 'application/json; charset=utf-8',
          extensions: { region: 'eu' },
        });
        t.same(received!.data, { box: 7 }, 'the data decoded by the event’s content type');
      },
    );
  });
}
