/**
 * Handlers and retry (docs/architecture.md#retry-and-dead-letters): throw = retry with attempt numbers, out of attempts = the
 * dead-letter queue with its `x-brokerkit-*` record (groups and queues) or a reported discard
 * (ephemeral), `PermanentError` and undecodable bodies straight to the end of the line.
 */
import { PermanentError, defaultCodec } from '@brokerkit/core';
import type { Broker, Codec, DeadLetter } from '@brokerkit/core';
import { Inbox, assertCounts, assertExactly, scoped } from './harness.js';
import type { Scope, SuiteContext, TapTest } from './harness.js';
import { ALL_KINDS, DURABLE_KINDS, flush, route } from './routes.js';
import type { Route } from './routes.js';

/** A failure the suite's handlers throw on purpose. */
class TestFailure extends Error {}

/** Check the dead-letter record of one message against what the test did. */
function checkDeadLetter(
  s: Scope,
  r: Route,
  letter: DeadLetter | undefined,
  expected: { k: string; id?: string; attempts: number; error: string | RegExp; since: number },
): void {
  if (!letter) {
    s.t.fail('no dead letter');
    return;
  }
  if (expected.id !== undefined) s.t.equal(letter.id, expected.id, 'dead letter keeps the message id');
  s.t.equal(letter.attempts, expected.attempts, `x-brokerkit-attempts = ${expected.attempts}`);
  s.t.equal(letter.origin, r.origin, 'x-brokerkit-origin = the queue or group');
  s.t.match(letter.error, expected.error, 'x-brokerkit-error carries the last error');
  s.t.ok(
    letter.failedAt.getTime() >= expected.since - 1000 && letter.failedAt.getTime() <= Date.now() + 1000,
    'x-brokerkit-failed-at is the time of failure',
    { failedAt: letter.failedAt },
  );
  s.t.equal(letter.topic, r.topic, 'dead letter keeps its topic');
  s.t.same(
    Object.keys(letter.headers).filter((h) => h.startsWith('x-brokerkit-')),
    [],
    'the x-brokerkit-* record is in the fields, not the user headers',
  );
}

/** A codec that lies for payloads marked `lie`: JSON content type, bytes that are not JSON. */
const lyingCodec: Codec = {
  encode(data) {
    if (typeof data === 'object' && data !== null && 'lie' in data) {
      return { body: new TextEncoder().encode('{"k": not json'), contentType: 'application/json' };
    }
    return defaultCodec.encode(data);
  },
  decode: defaultCodec.decode,
};

/** Register the retry and dead-letter tests under `parent`. */
export function failureTests(parent: TapTest, ctx: SuiteContext): void {
  for (const kind of ALL_KINDS) {
    scoped(parent, ctx, `retry then ack: attempts 1, 2, 3 of the same message (${kind})`, async (s) => {
      const broker = await s.broker();
      const r = route(s, kind);
      const arrivals: number[] = [];
      const inbox = new Inbox((m) => {
        if (m.data.k !== 'r') return;
        arrivals.push(performance.now());
        if (m.attempt < 3) throw new TestFailure(`attempt ${m.attempt} fails`);
      });
      await r.listen(broker, inbox.handler, { retry: s.retry(5) });
      const id = s.key('id');
      await r.emit(broker, { k: 'r', n: 1 }, { messageId: id, headers: { 'x-test': 'kept' } });
      await s.waitFor(
        () => inbox.count('r') >= 3,
        () => `3 attempts (got ${inbox.count('r')})`,
      );
      const sentinel = await flush(s, r, broker, [inbox]);
      const deliveries = inbox.deliveriesOf('r');
      s.t.same(
        deliveries.map((m) => m.attempt),
        [1, 2, 3],
        'attempt numbers 1, 2, 3',
      );
      s.t.same(
        deliveries.map((m) => m.redelivered),
        [false, true, true],
        'redelivered on retries',
      );
      s.t.same(
        deliveries.map((m) => m.id),
        [id, id, id],
        'the same message id each time',
      );
      s.t.same(
        deliveries.map((m) => [m.data, m.headers['x-test'], m.topic]),
        Array(3).fill([{ k: 'r', n: 1 }, 'kept', r.topic]),
        'same data, headers and topic each time',
      );
      assertCounts(s.t, inbox, { r: 3, [sentinel]: 1 }, 'exactly 3 deliveries, none after the ack');
      // Backoff is honoured: lower bounds only (initialMs, then doubled; jitter is off), never an
      // upper bound, so a slow machine cannot fail it. 0.9: timer and clock granularity.
      const initialMs = ctx.features.retryInitialMs;
      s.t.ok(
        arrivals[1]! - arrivals[0]! >= initialMs * 0.9,
        `attempt 2 came ≥ ${initialMs} ms after attempt 1 (${(arrivals[1]! - arrivals[0]!).toFixed(1)} ms)`,
      );
      s.t.ok(
        arrivals[2]! - arrivals[1]! >= 2 * initialMs * 0.9,
        `attempt 3 came ≥ ${2 * initialMs} ms after attempt 2 (${(arrivals[2]! - arrivals[1]!).toFixed(1)} ms)`,
      );
      if (kind !== 'ephemeral') s.t.same(await s.deadLetters(broker, r.origin), [], 'no dead letters');
    });
  }

  for (const kind of DURABLE_KINDS) {
    scoped(
      parent,
      ctx,
      `poison message: exactly N attempts, then the dead-letter queue (${kind})`,
      async (s) => {
        const since = Date.now();
        const broker = await s.broker();
        const r = route(s, kind);
        const inbox = new Inbox((m) => {
          if (m.data.k === 'p') throw new TestFailure(`boom on attempt ${m.attempt}`);
        });
        await r.listen(broker, inbox.handler, { retry: s.retry(3) });
        const id = s.key('id');
        await r.emit(broker, { k: 'p' }, { messageId: id, headers: { 'x-trace': 'abc' } });
        const [letter] = await s.waitForDeadLetters(broker, r.origin, 1);
        const sentinel = await flush(s, r, broker, [inbox]);
        s.t.same(
          inbox.deliveriesOf('p').map((m) => m.attempt),
          [1, 2, 3],
          'exactly 3 attempts, numbered 1, 2, 3',
        );
        checkDeadLetter(s, r, letter, { k: 'p', id, attempts: 3, error: /boom on attempt 3/, since });
        s.t.same(letter?.data, { k: 'p' }, 'dead letter keeps the payload');
        s.t.equal(letter?.headers['x-trace'], 'abc', 'dead letter keeps user headers');
        await s.waitForInfo(broker, `${r.origin}.dlq`, { depth: 1, kind: 'dlq' });
        assertCounts(s.t, inbox, { p: 3, [sentinel]: 1 }, 'no delivery after dead-lettering');
      },
    );
  }

  scoped(
    parent,
    ctx,
    "ephemeral subscription out of attempts: discarded and reported ('error', BK_DISCARDED)",
    async (s) => {
      const broker = await s.broker();
      const r = route(s, 'ephemeral');
      const inbox = new Inbox((m) => {
        if (m.data.k === 'p') throw new TestFailure('always fails');
      });
      await r.listen(broker, inbox.handler, { retry: s.retry(3) });
      await r.emit(broker, { k: 'p' });
      await s.waitFor(() => s.errors.length >= 1, 'the error event');
      const sentinel = await flush(s, r, broker, [inbox]);
      s.t.same(
        inbox.deliveriesOf('p').map((m) => m.attempt),
        [1, 2, 3],
        'exactly 3 attempts before the discard',
      );
      const errors = s.takeErrors();
      s.t.same(
        errors.map((e) => (e as { code?: string }).code),
        ['BK_DISCARDED'],
        'exactly one error event, code BK_DISCARDED',
      );
      s.t.match(errors[0]?.message ?? '', /always fails/, 'the event names the last error');
      assertCounts(s.t, inbox, { p: 3, [sentinel]: 1 }, 'nothing after the discard');
    },
  );

  for (const kind of ALL_KINDS) {
    scoped(parent, ctx, `PermanentError: no retry, straight to the end of the line (${kind})`, async (s) => {
      const since = Date.now();
      const broker = await s.broker();
      const r = route(s, kind);
      const inbox = new Inbox((m) => {
        if (m.data.k === 'x') throw new PermanentError('bad data: x');
      });
      await r.listen(broker, inbox.handler, { retry: s.retry(5) });
      await r.emit(broker, { k: 'x' });
      if (kind === 'ephemeral') {
        await s.waitFor(() => s.errors.length >= 1, 'the error event');
      } else {
        const [letter] = await s.waitForDeadLetters(broker, r.origin, 1);
        checkDeadLetter(s, r, letter, { k: 'x', attempts: 1, error: /bad data: x/, since });
        s.t.match(letter?.error, /BK_PERMANENT/, 'the error record names the code');
      }
      const sentinel = await flush(s, r, broker, [inbox]);
      assertExactly(s.t, inbox, ['x'], 'exactly one attempt', [sentinel]);
      if (kind === 'ephemeral') {
        const errors = s.takeErrors();
        s.t.same(
          errors.map((e) => (e as { code?: string }).code),
          ['BK_DISCARDED'],
          'one BK_DISCARDED error event',
        );
      }
    });
  }

  for (const kind of ALL_KINDS) {
    scoped(
      parent,
      ctx,
      `undecodable body: the handler never runs, straight to the end of the line (${kind})`,
      async (s) => {
        const since = Date.now();
        // The publishing side lies: content type JSON, body not JSON.
        const broker: Broker = await s.broker({ codec: lyingCodec });
        const r = route(s, kind);
        const inbox = new Inbox();
        await r.listen(broker, inbox.handler, { retry: s.retry(5) });
        await r.emit(broker, { k: 'bad', lie: true });
        if (kind === 'ephemeral') {
          await s.waitFor(() => s.errors.length >= 1, 'the error event');
          const errors = s.takeErrors();
          s.t.same(
            errors.map((e) => (e as { code?: string }).code),
            ['BK_DISCARDED'],
            'one BK_DISCARDED error event',
          );
          s.t.equal(
            (errors[0] as { cause?: { code?: string } })?.cause?.code,
            'BK_DECODE',
            'caused by BK_DECODE',
          );
        } else {
          const [letter] = await s.waitForDeadLetters(broker, r.origin, 1);
          checkDeadLetter(s, r, letter, { k: 'bad', attempts: 1, error: /BK_DECODE/, since });
          s.t.equal(letter?.contentType, 'application/json', 'dead letter keeps the content type');
          s.t.equal(
            new TextDecoder().decode(letter?.body),
            '{"k": not json',
            'dead letter keeps the raw bytes',
          );
        }
        const sentinel = await flush(s, r, broker, [inbox]);
        assertExactly(s.t, inbox, [], 'the handler never saw it', [sentinel]);
      },
    );
  }
}
