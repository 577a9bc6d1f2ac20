/**
 * OpenTelemetry tracing as core middleware, on `@opentelemetry/api` only: a PRODUCER span per
 * publish/send with the W3C trace context injected into the message headers, a CONSUMER span per
 * handler run whose parent is the producer's context, and the outcome (retry, dead letter,
 * discard) recorded on it. Core adds it to every broker; it does nothing until an SDK registers a
 * TracerProvider, and {@link activeTracer} is the one check per publish and delivery that decides.
 * See docs/architecture.md#tracing.
 */
import { createRequire } from 'node:module';
import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createTraceState,
  propagation,
  trace,
} from '@opentelemetry/api';
import type {
  Attributes,
  Context,
  Span,
  SpanContext,
  SpanOptions,
  TextMapGetter,
  TextMapSetter,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import { deadLetterQueueName } from './names.js';
import type { HandleContext, Headers, Message, Middleware, PublishContext } from './types.js';

/** The instrumentation scope of brokerkit's spans. */
export const TRACER_NAME = '@brokerkit/core';
const TRACER_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Attribute and event names: the OTel messaging conventions where they have one, `brokerkit.*` else. */
export const TRACE_ATTR = Object.freeze({
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  destinationTemplate: 'messaging.destination.template',
  group: 'messaging.consumer.group.name',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  errorType: 'error.type',
  attempt: 'brokerkit.attempt',
  outcome: 'brokerkit.outcome',
  retryDelayMs: 'brokerkit.retry.delay_ms',
  retryNextAttempt: 'brokerkit.retry.next_attempt',
  deadLetterQueue: 'brokerkit.dead_letter.queue',
  ceId: 'cloudevents.event_id',
  ceSource: 'cloudevents.event_source',
  ceType: 'cloudevents.event_type',
  ceSubject: 'cloudevents.event_subject',
  ceSpecVersion: 'cloudevents.event_spec_version',
});

/** Span events of a delivery that did not end in an ack. */
export const TRACE_EVENT = Object.freeze({
  retry: 'brokerkit.retry',
  deadLetter: 'brokerkit.dead_letter',
  discarded: 'brokerkit.discarded',
});

// A proxy without a delegate answers with the API's no-op provider: the same singleton the global
// proxy delegates to until an SDK calls `trace.setGlobalTracerProvider`.
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

let cachedDelegate: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/**
 * brokerkit's tracer when an SDK has registered a TracerProvider, else undefined. Asked once per
 * publish and per delivery (an SDK may register after `connect`): a global lookup and one
 * comparison, so a process without an SDK pays next to nothing.
 */
export function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
  if (delegate === NOOP_PROVIDER) return undefined;
  if (delegate !== cachedDelegate) {
    cachedDelegate = delegate;
    cachedTracer = delegate.getTracer(TRACER_NAME, TRACER_VERSION);
  }
  return cachedTracer;
}

/** True while an SDK's TracerProvider is registered. */
export function tracingActive(): boolean {
  return activeTracer() !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Propagation: the registered propagator when there is one, W3C trace context otherwise.

/** Header names are matched exactly first, then case-insensitively (a Go client sends `Traceparent`). */
const headerGetter: TextMapGetter<Readonly<Headers>> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const exact = carrier[key];
    if (exact !== undefined) return exact;
    for (const name in carrier)
      if (name.length === key.length && name.toLowerCase() === key) return carrier[name];
    return undefined;
  },
};

const headerSetter: TextMapSetter<Headers> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

// version-traceid-spanid-flags; checked with test() and sliced, which allocates less than exec().
// (A char-code loop measured no faster: the cost is V8 flattening the concatenated header string.)
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/** True when the application registered a propagator (`propagation.setGlobalPropagator`). */
function hasPropagator(): boolean {
  return propagation.fields().length > 0;
}

/**
 * Write the trace context of `ctx` into `headers`: through the registered propagator, else as
 * W3C `traceparent` / `tracestate` (what OTel's W3CTraceContextPropagator writes), so a trace
 * crosses the broker even when the application set up a provider but no propagator.
 */
export function injectTraceContext(ctx: Context, headers: Headers): void {
  if (hasPropagator()) {
    propagation.inject(ctx, headers, headerSetter);
    return;
  }
  const span = trace.getSpanContext(ctx);
  if (span === undefined || span.traceId === INVALID_TRACE_ID || span.spanId === INVALID_SPAN_ID) return;
  headers.traceparent = `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  const state = span.traceState?.serialize();
  if (state) headers.tracestate = state;
  // Only when there is one (a forwarded stale value): `delete` turns the object into a slow
  // dictionary for every later header access, which the profile showed.
  else if (headers.tracestate !== undefined) delete headers.tracestate;
}

/** The producer's context carried by `headers` (on top of the root context), if any. */
export function extractTraceContext(headers: Readonly<Headers>): Context {
  if (hasPropagator()) return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  // Exact names first (what brokerkit and OTel write); another case only when those are absent.
  let value: string | string[] | undefined = headers.traceparent;
  let state: string | string[] | undefined =
    value === undefined ? headerGetter.get(headers, 'tracestate') : headers.tracestate;
  value ??= headerGetter.get(headers, 'traceparent');
  if (typeof value !== 'string') return ROOT_CONTEXT;
  if (value.length !== 55) {
    value = value.trim();
    // Version 00 has exactly four fields; a later version may add some after a dash.
    if (value.length < 55 || (value.length > 55 && (value.startsWith('00') || value[55] !== '-'))) {
      return ROOT_CONTEXT;
    }
    value = value.slice(0, 55);
  }
  if (!TRACEPARENT.test(value) || value.startsWith('ff')) return ROOT_CONTEXT;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return ROOT_CONTEXT;
  const span: SpanContext = { traceId, spanId, traceFlags: parseInt(value.slice(53), 16), isRemote: true };
  if (typeof state === 'string' && (state = state.trim()).length > 0)
    span.traceState = createTraceState(state);
  return trace.setSpanContext(ROOT_CONTEXT, span);
}

// ---------------------------------------------------------------------------------------------
// Spans

function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name;
}

function fail(span: Span, error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  span.recordException(e);
  span.setAttribute(TRACE_ATTR.errorType, errorType(e));
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/**
 * Per-destination span options, built once: the span name and the attributes that do not change
 * from one message to the next (system, operation, destination or pattern, group), so a span
 * costs no options object, attribute object or name string of brokerkit's. They are given at
 * start, where samplers look; the per-message ones are set only on a recording span.
 */
interface SpanTemplate {
  readonly name: string;
  readonly options: SpanOptions;
}

/** Span templates by destination, for one span shape; emptied when it grows past `limit`. */
class TemplateCache {
  readonly #byKey = new Map<string, Map<string, SpanTemplate>>();
  #size = 0;
  constructor(
    readonly limit: number,
    readonly build: (key: string, sub: string) => SpanTemplate,
  ) {}
  get(key: string, sub: string): SpanTemplate {
    let inner = this.#byKey.get(key);
    let template = inner?.get(sub);
    if (template !== undefined) return template;
    // Publishes may name any number of topics: bounded, rebuilt on demand (a few µs each).
    if (this.#size >= this.limit) {
      this.#byKey.clear();
      this.#size = 0;
      inner = undefined;
    }
    if (inner === undefined) this.#byKey.set(key, (inner = new Map()));
    template = this.build(key, sub);
    inner.set(sub, template);
    this.#size++;
    return template;
  }
}

function publishTemplate(system: string, destination: string, kind: string): SpanTemplate {
  return {
    name: `${destination} publish`,
    options: {
      kind: SpanKind.PRODUCER,
      attributes: Object.freeze({
        [TRACE_ATTR.system]: system,
        [TRACE_ATTR.operationType]: 'publish',
        [TRACE_ATTR.operationName]: kind,
        [TRACE_ATTR.destination]: destination,
      }),
    },
  };
}

function consumerTemplate(system: string, hc: HandleContext): SpanTemplate {
  const attributes: Attributes = {
    [TRACE_ATTR.system]: system,
    [TRACE_ATTR.operationType]: 'process',
    [TRACE_ATTR.operationName]: 'process',
  };
  if (hc.kind !== 'consume') attributes[TRACE_ATTR.destinationTemplate] = hc.destination; // a pattern
  if (hc.group !== undefined) attributes[TRACE_ATTR.group] = hc.group;
  return {
    name: `${hc.destination} process`,
    options: { kind: SpanKind.CONSUMER, attributes: Object.freeze(attributes) },
  };
}

/** The attributes that change per delivery, on a recording span only. */
function setConsumerAttributes(span: Span, hc: HandleContext): void {
  const message: Message = hc.message;
  span.setAttribute(TRACE_ATTR.destination, message.topic);
  span.setAttribute(TRACE_ATTR.bodySize, message.body.byteLength);
  span.setAttribute(TRACE_ATTR.attempt, message.attempt);
  if (message.id !== '') span.setAttribute(TRACE_ATTR.messageId, message.id);
  const event = message.cloudEvent;
  if (event !== undefined) {
    span.setAttribute(TRACE_ATTR.ceId, event.id);
    span.setAttribute(TRACE_ATTR.ceSource, event.source);
    span.setAttribute(TRACE_ATTR.ceType, event.type);
    span.setAttribute(TRACE_ATTR.ceSpecVersion, event.specversion);
    if (event.subject !== undefined) span.setAttribute(TRACE_ATTR.ceSubject, event.subject);
  }
}

/** What `settled` hooks receive: a delivery's outcome (and, for responders, a reply's). */
type SettledOutcome = Parameters<NonNullable<Middleware['settled']>>[1];

function recordOutcome(span: Span, hc: HandleContext, outcome: SettledOutcome): void {
  span.setAttribute(TRACE_ATTR.outcome, outcome.kind);
  const attempt = hc.message.attempt;
  if (outcome.kind === 'retry') {
    span.addEvent(TRACE_EVENT.retry, {
      [TRACE_ATTR.attempt]: attempt,
      [TRACE_ATTR.retryNextAttempt]: outcome.nextAttempt,
      [TRACE_ATTR.retryDelayMs]: outcome.delayMs,
    });
  } else if (outcome.kind === 'dead_letter') {
    span.addEvent(TRACE_EVENT.deadLetter, {
      [TRACE_ATTR.attempt]: attempt,
      [TRACE_ATTR.deadLetterQueue]: deadLetterQueueName(hc.group ?? hc.destination),
    });
  } else if (outcome.kind === 'discarded') {
    span.addEvent(TRACE_EVENT.discarded, { [TRACE_ATTR.attempt]: attempt });
  }
  if ('error' in outcome) fail(span, outcome.error);
}

/** Where a delivery's CONSUMER span waits for `settled` (a slot on the context, no WeakMap). */
const CONSUMER_SPAN = Symbol('brokerkit.consumerSpan');
type TracedHandleContext = HandleContext & { [CONSUMER_SPAN]?: Span | undefined };

interface ConsumerTemplate {
  readonly kind: HandleContext['kind'];
  readonly group: string | undefined;
  readonly template: SpanTemplate;
}

/**
 * The tracing middleware of one broker; `system` is its `messaging.system` (the adapter name).
 * Core puts it first in the chain while {@link tracingActive}, so its spans enclose every other
 * middleware and the handler runs with the CONSUMER span active.
 */
export function tracingMiddleware(system: string): Middleware {
  const publishTemplates = new TemplateCache(1024, (destination, kind) =>
    publishTemplate(system, destination, kind),
  );
  // One entry per subscription (pattern or queue), then a short list by kind and group: no key
  // string is built per delivery.
  const consumerTemplates = new Map<string, ConsumerTemplate[]>();

  function templateFor(hc: HandleContext): SpanTemplate {
    let list = consumerTemplates.get(hc.destination);
    if (list === undefined) consumerTemplates.set(hc.destination, (list = []));
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (entry.kind === hc.kind && entry.group === hc.group) return entry.template;
    }
    const template = consumerTemplate(system, hc);
    list.push({ kind: hc.kind, group: hc.group, template });
    return template;
  }

  function startConsumer(tracer: Tracer, hc: HandleContext): { span: Span; parent: Context } {
    // The parent is the producer's context from the headers, never whatever context the adapter's
    // callback happens to run in (memory delivers inside the publisher's own call).
    const parent = extractTraceContext(hc.message.headers);
    const template = templateFor(hc);
    const span = tracer.startSpan(template.name, template.options, parent);
    if (span.isRecording()) setConsumerAttributes(span, hc);
    return { span, parent };
  }

  return {
    publish(pc: PublishContext, next: () => Promise<void>): Promise<void> {
      const tracer = activeTracer();
      if (tracer === undefined) return next();
      const message = pc.message;
      let parent = context.active();
      // No active span, but the caller forwards a traceparent (e.g. re-publishing a received
      // message's headers): continue that trace rather than start a new one.
      if (
        trace.getSpan(parent) === undefined &&
        headerGetter.get(message.headers, 'traceparent') !== undefined
      ) {
        parent = extractTraceContext(message.headers);
      }
      const template = publishTemplates.get(message.destination, pc.kind);
      const span = tracer.startSpan(template.name, template.options, parent);
      if (span.isRecording()) {
        span.setAttribute(TRACE_ATTR.messageId, message.id);
        span.setAttribute(TRACE_ATTR.bodySize, message.body.byteLength);
      }
      const ctx = trace.setSpan(parent, span);
      injectTraceContext(ctx, message.headers);
      let result: Promise<void>;
      try {
        result = context.with(ctx, next);
      } catch (error) {
        fail(span, error);
        span.end();
        throw error;
      }
      // A sampled-out span's end and status are no-ops: no extra promise and closures for them.
      if (!span.isRecording()) return result;
      return result.then(
        () => span.end(),
        (error: unknown) => {
          fail(span, error);
          span.end();
          throw error;
        },
      );
    },

    handle(hc: TracedHandleContext, next: () => Promise<void>): Promise<void> {
      const tracer = activeTracer();
      if (tracer === undefined) return next();
      const { span, parent } = startConsumer(tracer, hc);
      hc[CONSUMER_SPAN] = span;
      return context.with(trace.setSpan(parent, span), next);
    },

    settled(hc: TracedHandleContext, outcome: SettledOutcome): void {
      let span = hc[CONSUMER_SPAN];
      if (span !== undefined) hc[CONSUMER_SPAN] = undefined;
      else {
        // The handler never ran (an undecodable body): the delivery still gets its span.
        const tracer = activeTracer();
        if (tracer === undefined) return;
        span = startConsumer(tracer, hc).span;
      }
      // A sampled-out span records nothing: skip building the outcome's attributes and events.
      if (span.isRecording()) recordOutcome(span, hc, outcome);
      span.end();
    },
  };
}
