/**
 * The parts core owns for every adapter, checked through each adapter: shared options resolve
 * to the same `BK_VALIDATION` on every scheme (unknown keys included), the inspector's limits
 * and defaults are the same everywhere, and a delivery whose settle fails is reported and
 * redelivered, never lost (docs/architecture.md#the-settle-failure-rule).
 */
import { PermanentError } from '@brokerkit/core';
import type { BrokerOptions, DeliveryOutcome, Transport } from '@brokerkit/core';
import { Inbox, assertExactly, keys, rejectsWith, scoped } from './harness.js';
import type { SuiteContext, TapTest } from './harness.js';
import { DURABLE_KINDS, emitKeys, route } from './routes.js';

/** Connect options every scheme must refuse before connecting, and why. */
const BAD_OPTIONS: readonly [string, unknown][] = [
  ['connectTimeoutMs: -5', { connectTimeoutMs: -5 }],
  ['connectTimeoutMs: 1.5', { connectTimeoutMs: 1.5 }],
  ['connectTimeoutMs: "10"', { connectTimeoutMs: '10' }],
  ['publishTimeoutMs: 0', { publishTimeoutMs: 0 }],
  ['maxBufferedPublishes: -1', { maxBufferedPublishes: -1 }],
  ['maxPayloadBytes: 0', { maxPayloadBytes: 0 }],
  ['reconnect.initialMs: -1', { reconnect: { initialMs: -1 } }],
  ['reconnect.factor: 0.5', { reconnect: { factor: 0.5 } }],
  ['reconnect.maxMs below initialMs', { reconnect: { initialMs: 500, maxMs: 100 } }],
  ['reconnect: unknown key', { reconnect: { intialMs: 5 } }],
  ['retry.attempts: 0', { retry: { attempts: 0 } }],
  ['retry: unknown key', { retry: { attemps: 3 } }],
  ['retry.backoff: unknown key', { retry: { backoff: { initalMs: 3 } } }],
  ['retry.backoff.jitter: "yes"', { retry: { backoff: { jitter: 'yes' } } }],
  ['codec without decode', { codec: { encode: () => ({ body: new Uint8Array(), contentType: 'x' }) } }],
  ['unknown top-level key', { concurency: 4 }],
];

/** An outcome the adapter cannot read: its settle throws, exactly as a failing broker call would. */
const UNREADABLE_OUTCOME = {
  get kind(): never {
    throw new Error('settle fault injected by the contract suite');
  },
} as unknown as DeliveryOutcome;

/** A transport whose first `count` deliveries (of consumers and groups) fail to settle. */
function failingFirstSettles(transport: Transport, count: number): Transport {
  let left = count;
  const poison = (outcome: DeliveryOutcome): DeliveryOutcome => (left-- > 0 ? UNREADABLE_OUTCOME : outcome);
  return {
    adapter: transport.adapter,
    inspector: transport.inspector,
    publish: (m, o) => transport.publish(m, o),
    send: (m, o) => transport.send(m, o),
    subscribe: (spec, deliver) =>
      transport.subscribe(spec, (raw) => Promise.resolve(deliver(raw)).then(poison)),
    consume: (spec, deliver) => transport.consume(spec, (raw) => Promise.resolve(deliver(raw)).then(poison)),
    close: () => transport.close(),
  };
}

/** Register the core-seam tests under `parent`. */
export function seamTests(parent: TapTest, ctx: SuiteContext): void {
  scoped(parent, ctx, 'a bad shared option rejects connect with BK_VALIDATION naming it', async (s) => {
    for (const [label, options] of BAD_OPTIONS) {
      await rejectsWith(s.t, () => s.broker(options as BrokerOptions), 'BK_VALIDATION', label);
    }
    const error = await s.broker({ concurency: 4 } as BrokerOptions).catch((e: Error) => e);
    s.t.match(String((error as Error).message), /"concurency"/, 'the message names the unknown key');
    await s.broker({ connectTimeoutMs: 5_000, reconnect: { initialMs: 50, maxMs: 1_000, factor: 2 } });
    s.t.pass('valid shared options connect');
  });

  scoped(parent, ctx, 'unknown keys in call options reject with BK_VALIDATION', async (s) => {
    const broker = await s.broker();
    const q = s.queue();
    const call = (fn: () => Promise<unknown>) => fn;
    await rejectsWith(
      s.t,
      call(() => broker.subscribe(s.topic(), () => {}, { concurency: 4 } as never)),
      'BK_VALIDATION',
      'subscribe { concurency }',
    );
    await rejectsWith(
      s.t,
      call(() => broker.consume(q, () => {}, { prefetc: 2 } as never)),
      'BK_VALIDATION',
      'consume { prefetc }',
    );
    await rejectsWith(
      s.t,
      call(() => broker.publish(s.topic(), {}, { confrim: false } as never)),
      'BK_VALIDATION',
      'publish { confrim }',
    );
    await rejectsWith(
      s.t,
      call(() => broker.send(q, {}, { delay: 5 } as never)),
      'BK_VALIDATION',
      'send { delay }',
    );
    await rejectsWith(
      s.t,
      call(() => broker.consume(q, () => {}, { retry: { attemps: 2 } } as never)),
      'BK_VALIDATION',
      'consume { retry: { attemps } }',
    );
  });

  for (const kind of DURABLE_KINDS) {
    scoped(parent, ctx, `dead-letter limits are validated and defaulted by core (${kind})`, async (s) => {
      const broker = await s.broker();
      const inspector = s.inspector(broker);
      const r = route(s, kind);
      for (const limit of [0, -1, 1.5, 1_001, '2', Number.NaN]) {
        await rejectsWith(
          s.t,
          () => inspector.peekDeadLetters(r.origin, limit as number),
          'BK_VALIDATION',
          `peek limit ${String(limit)}`,
        );
      }
      for (const options of [{ limit: 0 }, { limit: -1 }, { limit: 2.5 }, { limit: '3' }, { limt: 2 }]) {
        await rejectsWith(
          s.t,
          () => inspector.replayDeadLetters(r.origin, options as { limit?: number }),
          'BK_VALIDATION',
          `replay ${JSON.stringify(options)}`,
        );
      }
      for (const name of ['a..b', '', 'q.*', 42]) {
        await rejectsWith(
          s.t,
          () => inspector.queueInfo(name as string),
          'BK_VALIDATION',
          `queueInfo(${JSON.stringify(name)})`,
        );
      }
      const inbox = new Inbox(() => {
        throw new PermanentError('to the dlq');
      });
      const sub = await r.listen(broker, inbox.handler);
      const all = keys('dead', 12);
      await emitKeys(r, broker, all);
      await s.waitForDeadLetters(broker, r.origin, 12);
      s.t.equal((await inspector.peekDeadLetters(r.origin)).length, 10, 'peek without a limit returns 10');
      s.t.equal((await inspector.peekDeadLetters(r.origin, 3)).length, 3, 'peek with limit 3 returns 3');
      await sub.close();
      const replayInbox = new Inbox();
      s.t.equal(await inspector.replayDeadLetters(r.origin), 12, 'replay without a limit moves all 12');
      await r.listen(broker, replayInbox.handler);
      await s.waitFor(() => replayInbox.tally.distinct === 12, 'the 12 replayed messages');
      assertExactly(s.t, replayInbox, all, 'replayed');
    });
  }

  for (const kind of DURABLE_KINDS) {
    scoped(
      parent,
      ctx,
      `a delivery whose settle fails is reported and redelivered, never lost (${kind})`,
      async (s) => {
        const broker = await s.brokerWith((transport) => failingFirstSettles(transport, 1));
        const r = route(s, kind);
        const inbox = new Inbox();
        await r.listen(broker, inbox.handler);
        await r.emit(broker, { k: 'first' });
        await s.waitFor(() => inbox.count('first') >= 2, 'the redelivery after the failed settle');
        const errors = s.takeErrors();
        s.t.same(
          errors.map((e) => e.message).filter((m) => m.includes('settle fault injected')),
          ['settle fault injected by the contract suite'],
          'the failed settle is reported once through the error event',
        );
        s.t.ok(inbox.deliveriesOf('first')[1]!.redelivered, 'the second delivery is marked redelivered');
        // The second settle worked: nothing more of `first` arrives before a message sent after it.
        await r.emit(broker, { k: 'after' });
        await s.waitFor(() => inbox.has('after'), 'the message sent after');
        s.t.same(inbox.keys, ['first', 'first', 'after'], 'delivered twice, then settled once');
      },
    );
  }
}
