import t from 'tap';
import { createDispatcher, type DispatcherOptions } from '../src/delivery.js';
import { defaultCodec, encode } from '../src/codec.js';
import { PermanentError } from '../src/errors.js';
import { HEADER } from '../src/headers.js';
import { resolveRetryPolicy } from '../src/retry.js';
import type { DeliveryOutcome, HandleContext, Message, Middleware, RawDelivery } from '../src/types.js';

const retry = resolveRetryPolicy({ attempts: 3, backoff: { initialMs: 100, jitter: false } });

function raw(attempt: number, overrides: Partial<RawDelivery> = {}): RawDelivery {
  const { body, contentType } = encode({ n: 1 });
  return {
    topic: 'orders.created',
    body,
    headers: { trace: 'abc', [HEADER.attempt]: String(attempt) },
    contentType,
    id: 'id-1',
    timestamp: new Date(1000),
    attempt,
    redelivered: attempt > 1,
    ...overrides,
  };
}

function options(
  handler: (m: Message) => void | Promise<void>,
  extra: Partial<DispatcherOptions> = {},
): DispatcherOptions {
  return {
    kind: 'consume',
    destination: 'jobs',
    group: undefined,
    handler,
    codec: defaultCodec,
    retry,
    middleware: [],
    deadLetter: true,
    onDiscarded: () => {},
    ...extra,
  };
}

t.test('a resolving handler acks and sees the decoded message without bookkeeping headers', async (t) => {
  let seen: Message | undefined;
  const deliver = createDispatcher(options((m) => void (seen = m)));
  const outcome = await deliver(raw(1));
  t.same(outcome, { kind: 'ack' });
  t.same(seen?.data, { n: 1 });
  t.same(seen?.headers, { trace: 'abc' });
  t.equal(seen?.attempt, 1);
  t.equal(seen?.id, 'id-1');
  t.equal(seen?.contentType, 'application/json');
});

t.test('a throwing handler is retried with backoff until attempts run out, then dead-lettered', async (t) => {
  const deliver = createDispatcher(options(() => Promise.reject(new Error('db down'))));
  const first = await deliver(raw(1));
  t.match(first, { kind: 'retry', delayMs: 100, nextAttempt: 2 });
  const second = await deliver(raw(2));
  t.match(second, { kind: 'retry', delayMs: 200, nextAttempt: 3 });
  const last = (await deliver(raw(3))) as Extract<DeliveryOutcome, { kind: 'dead_letter' }>;
  t.equal(last.kind, 'dead_letter');
  t.equal(last.headers.trace, 'abc');
  t.equal(last.headers[HEADER.attempt], undefined);
  t.match(last.headers[HEADER.error], /Error: db down/);
  t.equal(last.headers[HEADER.origin], 'jobs');
  t.equal(last.headers[HEADER.attempts], '3');
  t.equal(last.headers[HEADER.topic], 'orders.created');
  t.ok(!Number.isNaN(Date.parse(last.headers[HEADER.failedAt]!)));
});

t.test('PermanentError and undecodable bodies skip the retries', async (t) => {
  let calls = 0;
  const deliver = createDispatcher(
    options(() => {
      calls++;
      throw new PermanentError('bad order');
    }),
  );
  t.match(await deliver(raw(1)), { kind: 'dead_letter', headers: { [HEADER.attempts]: '1' } });
  const undecodable = await deliver(
    raw(1, { body: new TextEncoder().encode('{x'), contentType: 'application/json' }),
  );
  t.match(undecodable, { kind: 'dead_letter', error: { code: 'BK_DECODE' } });
  t.equal(calls, 1, 'the handler never saw the undecodable message');
});

t.test('ephemeral subscriptions discard after the last attempt and report it', async (t) => {
  const discarded: Error[] = [];
  const deliver = createDispatcher(
    options(() => Promise.reject(new Error('nope')), {
      kind: 'subscribe',
      deadLetter: false,
      onDiscarded: (e) => discarded.push(e),
    }),
  );
  t.match(await deliver(raw(3)), { kind: 'discarded' });
  t.equal(discarded.length, 1);
});

t.test('middleware wraps the handler in order and observes every outcome', async (t) => {
  const trail: string[] = [];
  const outcomes: string[] = [];
  const mw = (name: string): Middleware => ({
    async handle(_ctx: HandleContext, next) {
      trail.push(`${name}>`);
      try {
        await next();
      } finally {
        trail.push(`<${name}`);
      }
    },
    settled(_ctx, outcome) {
      outcomes.push(`${name}:${outcome.kind}`);
    },
  });
  const middleware: Middleware[] = [mw('a'), { settled: () => outcomes.push('observer') }, mw('b')];
  const deliver = createDispatcher(options(() => void trail.push('handler'), { middleware }));
  await deliver(raw(1));
  t.same(trail, ['a>', 'b>', 'handler', '<b', '<a']);
  t.same(outcomes, ['a:ack', 'observer', 'b:ack']);
});

t.test('the original topic header restores Message.topic for dead-letter replays', async (t) => {
  let topic = '';
  const deliver = createDispatcher(options((m) => void (topic = m.topic)));
  await deliver(raw(1, { topic: 'jobs', headers: { [HEADER.topic]: 'orders.created' } }));
  t.equal(topic, 'orders.created');
});

t.test('a synchronously throwing handler reaches handle middleware as a rejection', async (t) => {
  const seen: string[] = [];
  const observer: Middleware = {
    handle(_context, next) {
      const result = next();
      seen.push(result instanceof Promise ? 'promise' : 'other');
      return result.catch((error: Error) => {
        seen.push(`rejected: ${error.message}`);
        throw error;
      });
    },
  };
  const deliver = createDispatcher(
    options(
      () => {
        throw new Error('sync boom');
      },
      { middleware: [observer] },
    ),
  );
  const outcome = await deliver(raw(1));
  t.same(seen, ['promise', 'rejected: sync boom']);
  t.match(outcome, { kind: 'retry', nextAttempt: 2 });
});

t.test('settled gets the handler time; undefined when the message never reached the handler', async (t) => {
  const seen: Array<[string, number | undefined]> = [];
  const observer: Middleware = {
    settled(_context, outcome, handlerMs) {
      seen.push([outcome.kind, handlerMs]);
    },
  };
  let release!: () => void;
  const deliver = createDispatcher(
    options(() => new Promise<void>((resolve) => (release = resolve)), { middleware: [observer] }),
  );
  const pending = deliver(raw(1));
  const started = performance.now();
  await new Promise((resolve) => setImmediate(resolve));
  release();
  t.same(await pending, { kind: 'ack' });
  const undecodable = await deliver(
    raw(1, { body: new TextEncoder().encode('{nope'), contentType: 'application/json' }),
  );
  t.match(undecodable, { kind: 'dead_letter' });
  t.equal(seen.length, 2);
  t.equal(seen[0]![0], 'ack');
  t.ok(
    seen[0]![1]! >= 0 && seen[0]![1]! <= performance.now() - started + 1,
    `handler time ${seen[0]![1]} ms`,
  );
  t.same(seen[1], ['dead_letter', undefined], 'undecodable: no handler time');
});

t.test(
  'settled observers run as methods of their middleware, and one that throws does not stop the next',
  async (t) => {
    const seen: string[] = [];
    class Observer implements Middleware {
      constructor(readonly name: string) {}
      settled(_context: HandleContext, outcome: DeliveryOutcome | { kind: string }): void {
        seen.push(`${this.name} ${outcome.kind}`);
      }
    }
    const faulty: Middleware = {
      settled() {
        throw new Error('observer bug');
      },
    };
    const deliver = createDispatcher(
      options(() => {}, { middleware: [new Observer('first'), faulty, new Observer('second')] }),
    );
    t.same(await deliver(raw(1)), { kind: 'ack' }, 'the outcome is not changed by a faulty observer');
    t.same(seen, ['first ack', 'second ack']);
  },
);
