// Core's tracing middleware against the real OpenTelemetry SDK (BasicTracerProvider, in-memory
// exporter, AsyncLocalStorage context manager), on the memory broker: span kinds, names,
// attributes, parents, outcome events, sampling, propagators, and the no-SDK path. The same trace
// through RabbitMQ and NATS, with foreign clients, is in cross-broker.test.ts.
import t from 'tap';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { connect } from '../src/connect.js';
import { defaultCodec } from '../src/codec.js';
import { PermanentError } from '../src/errors.js';
import {
  TRACE_EVENT,
  TRACER_NAME,
  extractTraceContext,
  injectTraceContext,
  tracingActive,
} from '../src/tracing.js';
import type { Broker, BrokerOptions, Message } from '../src/types.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const testTracer = provider.getTracer('test');
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);

/** Put `other` (or nothing) in place of the file's provider while `body` runs. */
async function withProvider<T>(other: BasicTracerProvider | undefined, body: () => Promise<T>): Promise<T> {
  trace.disable();
  if (other) trace.setGlobalTracerProvider(other);
  try {
    return await body();
  } finally {
    trace.disable();
    trace.setGlobalTracerProvider(provider);
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

async function memoryBroker(t: Tap, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(`memory://${uniqueName('trace')}`, options);
  t.teardown(() => broker.close());
  return broker;
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

function spans(traceId: string, kind?: SpanKind): ReadableSpan[] {
  return exporter
    .getFinishedSpans()
    .filter((s) => s.spanContext().traceId === traceId && (kind === undefined || s.kind === kind));
}

/** Run `publish` inside a fresh root span; returns that span's context. */
async function inRootSpan(publish: () => Promise<void>): Promise<SpanContext> {
  const root = testTracer.startSpan('request');
  try {
    await context.with(trace.setSpan(ROOT_CONTEXT, root), publish);
  } finally {
    root.end();
  }
  return root.spanContext();
}

function consumerSpans(traceId: string, count: number): Promise<ReadableSpan[]> {
  return waitFor(
    () => {
      const found = spans(traceId, SpanKind.CONSUMER);
      return found.length >= count ? found.sort(byAttempt) : undefined;
    },
    { timeoutMs: 5000, message: () => `${count} consumer span(s) of ${traceId}` },
  );
}

function byAttempt(a: ReadableSpan, b: ReadableSpan): number {
  return Number(a.attributes['brokerkit.attempt']) - Number(b.attributes['brokerkit.attempt']);
}

function only<T>(list: T[], label: string): T {
  if (list.length !== 1) throw new Error(`expected exactly one ${label}, found ${list.length}`);
  return list[0]!;
}

t.test('publish → group handler: one trace, the producer span is the consumer span’s parent', async (t) => {
  const broker = await memoryBroker(t);
  const seen: { message: Message; active: SpanContext | undefined }[] = [];
  await broker.subscribe(
    'orders.*',
    (message) => void seen.push({ message, active: trace.getActiveSpan()?.spanContext() }),
    { group: 'billing' },
  );
  const root = await inRootSpan(() => broker.publish('orders.created', { id: 1 }, { messageId: 'm-1' }));
  const consumer = only(await consumerSpans(root.traceId, 1), 'consumer span');
  const producer = only(spans(root.traceId, SpanKind.PRODUCER), 'producer span');

  t.equal(producer.name, 'orders.created publish', 'producer span name: <destination> publish');
  t.equal(producer.parentSpanContext?.spanId, root.spanId, 'the producer span is a child of the active span');
  t.equal(producer.instrumentationScope.name, TRACER_NAME, 'instrumentation scope');
  t.same(producer.attributes, {
    'messaging.system': 'memory',
    'messaging.operation.type': 'publish',
    'messaging.operation.name': 'publish',
    'messaging.destination.name': 'orders.created',
    'messaging.message.id': 'm-1',
    'messaging.message.body.size': Buffer.byteLength(JSON.stringify({ id: 1 })),
  });
  t.equal(producer.status.code, SpanStatusCode.UNSET, 'a confirmed publish leaves the status unset');

  const headers = seen[0]!.message.headers;
  t.equal(
    headers.traceparent,
    `00-${root.traceId}-${producer.spanContext().spanId}-01`,
    'the message carries the producer span as W3C traceparent',
  );

  t.equal(consumer.name, 'orders.* process', 'consumer span name: <pattern> process');
  t.equal(consumer.parentSpanContext?.spanId, producer.spanContext().spanId, 'parent = the producer span');
  t.equal(consumer.parentSpanContext?.isRemote, true, 'the parent came from the headers');
  t.same(consumer.attributes, {
    'messaging.system': 'memory',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': 'orders.created',
    'messaging.destination.template': 'orders.*',
    'messaging.consumer.group.name': 'billing',
    'messaging.message.id': 'm-1',
    'messaging.message.body.size': Buffer.byteLength(JSON.stringify({ id: 1 })),
    'brokerkit.attempt': 1,
    'brokerkit.outcome': 'ack',
  });
  t.same(consumer.events, [], 'an ack records no event');
  t.equal(consumer.status.code, SpanStatusCode.UNSET);
  t.equal(
    seen[0]!.active?.spanId,
    consumer.spanContext().spanId,
    'the handler runs with the consumer span active',
  );
});

t.test('send → consume: a work queue traces the same way', async (t) => {
  const broker = await memoryBroker(t);
  let handled = 0;
  await broker.consume('jobs', () => void handled++);
  const root = await inRootSpan(() => broker.send('jobs', 'text'));
  const consumer = only(await consumerSpans(root.traceId, 1), 'consumer span');
  const producer = only(spans(root.traceId, SpanKind.PRODUCER), 'producer span');
  t.equal(producer.name, 'jobs publish');
  t.equal(producer.attributes['messaging.operation.name'], 'send');
  t.equal(consumer.name, 'jobs process');
  t.equal(consumer.parentSpanContext?.spanId, producer.spanContext().spanId);
  t.notOk('messaging.consumer.group.name' in consumer.attributes, 'no group on a work queue');
  t.notOk('messaging.destination.template' in consumer.attributes, 'a queue is no template');
  t.equal(handled, 1);
});

t.test('retries are span events: one consumer span per attempt, each a child of the producer', async (t) => {
  const broker = await memoryBroker(t);
  await broker.consume(
    'jobs',
    (m) => {
      if (m.attempt < 3) throw new Error(`boom ${m.attempt}`);
    },
    { retry: { attempts: 5, backoff: { initialMs: 5, factor: 2, jitter: false } } },
  );
  const root = await inRootSpan(() => broker.send('jobs', { k: 1 }));
  const attempts = await consumerSpans(root.traceId, 3);
  const producer = only(spans(root.traceId, SpanKind.PRODUCER), 'producer span');
  t.same(
    attempts.map((s) => s.parentSpanContext?.spanId),
    [1, 2, 3].map(() => producer.spanContext().spanId),
    'every attempt’s span has the producer span as parent',
  );
  for (const [i, span] of attempts.slice(0, 2).entries()) {
    const attempt = i + 1;
    const retry = span.events.find((e) => e.name === TRACE_EVENT.retry);
    t.same(
      retry?.attributes,
      {
        'brokerkit.attempt': attempt,
        'brokerkit.retry.next_attempt': attempt + 1,
        'brokerkit.retry.delay_ms': 5 * 2 ** i,
      },
      `attempt ${attempt}: retry event with the next attempt and its delay`,
    );
    t.ok(
      span.events.some((e) => e.name === 'exception'),
      `attempt ${attempt}: the handler’s error is recorded`,
    );
    t.same(span.status, { code: SpanStatusCode.ERROR, message: `boom ${attempt}` });
    t.equal(span.attributes['brokerkit.outcome'], 'retry');
    t.equal(span.attributes['error.type'], 'Error');
  }
  const last = attempts[2]!;
  t.equal(last.attributes['brokerkit.attempt'], 3);
  t.equal(last.attributes['brokerkit.outcome'], 'ack');
  t.same(last.events, [], 'the successful attempt has no events');
});

t.test('dead letters, discards and undecodable messages end their span in error', async (t) => {
  const broker = await memoryBroker(t, {
    codec: {
      encode: defaultCodec.encode,
      decode: (body, type) => {
        if (Buffer.from(body).toString() === 'poison') throw new Error('cannot read poison');
        return defaultCodec.decode(body, type);
      },
    },
  });
  const errors: Error[] = [];
  broker.on('error', (e) => errors.push(e));
  await broker.subscribe(
    'payments.*',
    () => {
      throw new PermanentError('card rejected');
    },
    { group: 'ledger' },
  );
  await broker.subscribe(
    'audit.>',
    () => {
      throw new Error('no disk');
    },
    { retry: { attempts: 1 } },
  );
  await broker.consume('inbox', () => {});

  const dead = await inRootSpan(() => broker.publish('payments.made', { k: 1 }));
  const deadSpan = only(await consumerSpans(dead.traceId, 1), 'dead-letter span');
  t.same(
    deadSpan.events.find((e) => e.name === TRACE_EVENT.deadLetter)?.attributes,
    { 'brokerkit.attempt': 1, 'brokerkit.dead_letter.queue': 'ledger.dlq' },
    'dead_letter event names the dead-letter queue',
  );
  t.equal(deadSpan.status.code, SpanStatusCode.ERROR);
  t.equal(deadSpan.attributes['error.type'], 'BK_PERMANENT', 'error.type is the error code');
  t.equal(deadSpan.attributes['brokerkit.outcome'], 'dead_letter');

  const discarded = await inRootSpan(() => broker.publish('audit.login', { k: 2 }));
  const discardSpan = only(await consumerSpans(discarded.traceId, 1), 'discard span');
  t.ok(
    discardSpan.events.some((e) => e.name === TRACE_EVENT.discarded),
    'discarded event',
  );
  t.same(discardSpan.status, { code: SpanStatusCode.ERROR, message: 'no disk' });
  await waitFor(() => errors.length === 1, { timeoutMs: 5000 });
  t.match(errors[0], { code: 'BK_DISCARDED' }, 'the discard is still reported through the error event');

  const poison = await inRootSpan(() => broker.send('inbox', 'poison'));
  const poisonSpan = only(await consumerSpans(poison.traceId, 1), 'undecodable span');
  t.equal(
    poisonSpan.attributes['brokerkit.outcome'],
    'dead_letter',
    'the handler never ran, the span exists',
  );
  t.equal(poisonSpan.attributes['error.type'], 'BK_DECODE');
  t.equal(
    poisonSpan.parentSpanContext?.spanId,
    only(spans(poison.traceId, SpanKind.PRODUCER), 'producer').spanContext().spanId,
  );
});

t.test('a foreign traceparent continues the trace, on publish and on delivery', async (t) => {
  const broker = await memoryBroker(t);
  const name = uniqueName('shared');
  const untraced = await connect(`memory://${name}`, { tracing: false });
  const traced = await connect(`memory://${name}`);
  t.teardown(() => Promise.all([untraced.close(), traced.close()]));
  const foreignTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const foreignSpan = '00f067aa0ba902b7';

  // Publishing another service's headers with no span active continues that service's trace.
  let handled: Message | undefined;
  await broker.consume('forwarded', (m) => void (handled = m));
  await broker.send(
    'forwarded',
    { k: 1 },
    { headers: { traceparent: `00-${foreignTrace}-${foreignSpan}-01` } },
  );
  const [consumer] = await consumerSpans(foreignTrace, 1);
  const producer = only(spans(foreignTrace, SpanKind.PRODUCER), 'producer span');
  t.equal(
    producer.parentSpanContext?.spanId,
    foreignSpan,
    'the producer span continues the given traceparent',
  );
  t.equal(consumer!.parentSpanContext?.spanId, producer.spanContext().spanId);
  t.match(handled?.headers.traceparent, new RegExp(`^00-${foreignTrace}-`));

  // A message that arrives with a foreign producer's context (here: published with tracing off).
  const otherTrace = '0af7651916cd43dd8448eb211c80319c';
  const otherSpan = 'b7ad6b7169203331';
  await traced.consume('incoming', () => {});
  await untraced.send(
    'incoming',
    { k: 2 },
    {
      headers: { Traceparent: `00-${otherTrace}-${otherSpan}-01`, tracestate: 'vendor=v1' },
    },
  );
  const [fromForeign] = await consumerSpans(otherTrace, 1);
  t.equal(
    fromForeign!.parentSpanContext?.spanId,
    otherSpan,
    'consumer parent = the foreign span (any header case)',
  );
  t.equal(fromForeign!.parentSpanContext?.traceState?.get('vendor'), 'v1', 'tracestate is kept');
  t.same(spans(otherTrace, SpanKind.PRODUCER), [], 'the untraced publisher made no span');
});

t.test('with sampling off the context still travels (flags 00) and nothing is recorded', async (t) => {
  const off = new InMemorySpanExporter();
  const unsampled = new BasicTracerProvider({
    sampler: new AlwaysOffSampler(),
    spanProcessors: [new SimpleSpanProcessor(off)],
  });
  await withProvider(unsampled, async () => {
    const broker = await memoryBroker(t);
    let message: Message | undefined;
    await broker.consume('jobs', (m) => void (message = m));
    await broker.send('jobs', 1);
    await waitFor(() => message, { timeoutMs: 5000 });
    t.match(message?.headers.traceparent, TRACEPARENT, 'a valid traceparent');
    t.match(message?.headers.traceparent, /-00$/, 'marked not sampled');
    await broker.close();
    t.same(off.getFinishedSpans(), [], 'no span recorded');
  });
});

t.test('without an SDK nothing is added; tracing: false turns it off with one', async (t) => {
  await withProvider(undefined, async () => {
    t.equal(tracingActive(), false, 'no TracerProvider registered');
    const broker = await memoryBroker(t);
    let message: Message | undefined;
    await broker.consume('jobs', (m) => void (message = m));
    await broker.send('jobs', 1, { headers: { a: 'b' } });
    await waitFor(() => message, { timeoutMs: 5000 });
    t.same(message?.headers, { a: 'b' }, 'headers untouched');
  });
  t.equal(tracingActive(), true, 'the SDK is back');
  exporter.reset();
  const off = await memoryBroker(t, { tracing: false });
  let message: Message | undefined;
  await off.consume('jobs', (m) => void (message = m));
  await off.send('jobs', 1);
  await waitFor(() => message, { timeoutMs: 5000 });
  t.same(message?.headers, {}, 'no traceparent with tracing: false');
  t.same(exporter.getFinishedSpans(), [], 'no spans with tracing: false');
  await t.rejects(connect('memory://', { tracing: 'yes' as unknown as boolean }), { code: 'BK_VALIDATION' });
});

t.test('a registered propagator is used: W3C trace context and baggage cross the broker', async (t) => {
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  t.teardown(() => propagation.disable());
  const broker = await memoryBroker(t);
  let tenant: string | undefined;
  let message: Message | undefined;
  await broker.consume('jobs', (m) => {
    message = m;
    tenant = propagation.getBaggage(context.active())?.getEntry('tenant')?.value;
  });
  const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
  const root = testTracer.startSpan('request');
  await context.with(propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, root), baggage), () =>
    broker.send('jobs', 1),
  );
  root.end();
  await consumerSpans(root.spanContext().traceId, 1);
  t.equal(message?.headers.baggage, 'tenant=acme', 'the baggage header travels');
  t.equal(tenant, 'acme', 'and is the handler’s baggage');
  t.match(message?.headers.traceparent, new RegExp(`^00-${root.spanContext().traceId}-`));
});

t.test('middleware runs inside the spans; a failed publish ends its span in error', async (t) => {
  const broker = await memoryBroker(t);
  let activeInMiddleware: string | undefined;
  broker.use({
    handle: (_context, next) => {
      activeInMiddleware = trace.getActiveSpan()?.spanContext().spanId;
      return next();
    },
    publish: (pc, next) =>
      pc.message.destination === 'refused' ? Promise.reject(new Error('quota exceeded')) : next(),
  });
  await broker.consume('jobs', () => {});
  const root = await inRootSpan(() => broker.send('jobs', 1));
  const [consumer] = await consumerSpans(root.traceId, 1);
  t.equal(activeInMiddleware, consumer!.spanContext().spanId, 'a handle middleware sees the consumer span');

  const failed = await inRootSpan(() =>
    t.rejects(broker.send('refused', 1), { message: 'quota exceeded' }).then(() => {}),
  );
  const span = only(spans(failed.traceId, SpanKind.PRODUCER), 'producer span');
  t.same(span.status, { code: SpanStatusCode.ERROR, message: 'quota exceeded' });
  t.ok(
    span.events.some((e) => e.name === 'exception'),
    'the error is recorded',
  );
});

t.test('the W3C fallback: inject and extract round-trip, malformed headers are ignored', async (t) => {
  const root = testTracer.startSpan('x');
  const headers: Record<string, string> = {};
  injectTraceContext(trace.setSpan(ROOT_CONTEXT, root), headers);
  root.end();
  const sc = root.spanContext();
  t.same(headers, { traceparent: `00-${sc.traceId}-${sc.spanId}-01` });
  t.match(trace.getSpanContext(extractTraceContext(headers)), {
    traceId: sc.traceId,
    spanId: sc.spanId,
    traceFlags: 1,
    isRemote: true,
  });
  for (const bad of [
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    'garbage',
  ]) {
    t.equal(trace.getSpanContext(extractTraceContext({ traceparent: bad })), undefined, `ignored: ${bad}`);
  }
  t.ok(
    trace.getSpanContext(
      extractTraceContext({ traceparent: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future' }),
    ),
    'a later version with more fields is read',
  );
});

t.test('span names and destinations stay right past the per-destination template cache', async (t) => {
  // Publish templates are cached per destination (1 024 of them) and rebuilt after the cache
  // empties: every span must still name its own destination, send and publish apart.
  const broker = await memoryBroker(t);
  const root = await inRootSpan(async () => {
    for (let i = 0; i < 1100; i++) await broker.publish(`many.t${i}`, i);
    await broker.send('many-queue', 1);
    await broker.publish('many.t0', 0);
  });
  const producers = spans(root.traceId, SpanKind.PRODUCER);
  t.equal(producers.length, 1102);
  const wrong = producers.filter(
    (s) => s.name !== `${String(s.attributes['messaging.destination.name'])} publish`,
  );
  t.same(wrong, [], 'each span named after its destination');
  const send = only(
    producers.filter((s) => s.attributes['messaging.operation.name'] === 'send'),
    'send span',
  );
  t.equal(send.name, 'many-queue publish');
  t.equal(producers.filter((s) => s.name === 'many.t0 publish').length, 2, 'a rebuilt template is the same');
});
