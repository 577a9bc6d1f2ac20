/**
 * Close (docs/architecture.md#the-contract): idempotent closes, `BK_CLOSED` afterwards, subscriptions and brokers that
 * stop taking work while their in-flight handlers finish, and `await using`.
 */
import type { Broker } from '@brokerkit/core';
import { Inbox, assertExactly, keys, rejectsWith, scoped, yieldToEventLoop } from './harness.js';
import type { Gate, SuiteContext, TapTest } from './harness.js';
import { DURABLE_KINDS, emitKeys, flush, route } from './routes.js';

/** Register the close and drain tests under `parent`. */
export function lifecycleTests(parent: TapTest, ctx: SuiteContext): void {
  scoped(parent, ctx, 'close is idempotent and every call afterwards rejects with BK_CLOSED', async (s) => {
    const broker = await s.broker();
    const q = s.queue();
    const topic = s.topic('ev');
    s.t.equal(broker.status, 'ready', 'status is ready once connect resolved');
    const sub = await broker.subscribe(topic, () => {});
    const worker = await broker.consume(q, () => {});
    const group = s.group();
    const member = await broker.subscribe(`${topic}.*`, () => {}, { group });
    s.t.same(
      [sub.destination, sub.group, worker.destination, worker.group, member.destination, member.group],
      [topic, undefined, q, undefined, `${topic}.*`, group],
      'subscriptions report their destination and group',
    );
    await Promise.all([broker.close(), broker.close()]);
    await broker.close();
    s.t.equal(broker.status, 'closed', 'status is closed');
    await sub.close();
    await worker.close();
    s.t.pass('closing subscriptions of a closed broker resolves');
    await rejectsWith(s.t, () => broker.publish(topic, { k: 1 }), 'BK_CLOSED', 'publish');
    await rejectsWith(s.t, () => broker.send(q, { k: 1 }), 'BK_CLOSED', 'send');
    await rejectsWith(s.t, () => broker.subscribe(topic, () => {}), 'BK_CLOSED', 'subscribe');
    await rejectsWith(
      s.t,
      () => broker.subscribe(topic, () => {}, { group: s.group() }),
      'BK_CLOSED',
      'group subscribe',
    );
    await rejectsWith(s.t, () => broker.consume(q, () => {}), 'BK_CLOSED', 'consume');
  });

  scoped(parent, ctx, 'inspector calls after close reject with BK_CLOSED', async (s) => {
    const broker = await s.broker();
    const inspector = s.inspector(broker);
    const q = s.queue();
    await broker.send(q, { k: 1 });
    await broker.close();
    await rejectsWith(s.t, () => inspector.listQueues(), 'BK_CLOSED', 'listQueues');
    await rejectsWith(s.t, () => inspector.queueInfo(q), 'BK_CLOSED', 'queueInfo');
    await rejectsWith(s.t, () => inspector.purge(q), 'BK_CLOSED', 'purge');
    await rejectsWith(s.t, () => inspector.peekDeadLetters(q), 'BK_CLOSED', 'peekDeadLetters');
    await rejectsWith(s.t, () => inspector.replayDeadLetters(q), 'BK_CLOSED', 'replayDeadLetters');
    await rejectsWith(s.t, () => inspector.deleteQueue(q), 'BK_CLOSED', 'deleteQueue');
  });

  // Prefetched messages whose handler never started must go back to the queue at close, not wait
  // for a broker-side ack timeout.
  const closeCases = DURABLE_KINDS.flatMap((kind) => [
    { kind, concurrency: 2, prefetch: undefined },
    { kind, concurrency: 1, prefetch: 5 },
  ]);
  for (const { kind, concurrency, prefetch } of closeCases) {
    const title = `concurrency ${concurrency}${prefetch ? `, prefetch ${prefetch}` : ''}`;
    scoped(
      parent,
      ctx,
      `subscription close: no new deliveries, in-flight handlers finish first (${kind}, ${title})`,
      async (s) => {
        const broker = await s.broker();
        const r = route(s, kind);
        const running: Gate[] = [];
        const first = new Inbox(async () => {
          const gate = s.gate();
          running.push(gate);
          await gate.opened;
        });
        const sub = await r.listen(broker, first.handler, { concurrency, prefetch });
        const expected = keys('c', 5);
        const left = expected.length - concurrency;
        await emitKeys(r, broker, expected);
        await s.waitFor(
          () => first.active === concurrency,
          () => `${concurrency} handler(s) running (now ${first.active})`,
        );
        let doneWhenClosed = -1;
        const closing = sub.close().then(() => {
          doneWhenClosed = first.done;
        });
        await yieldToEventLoop();
        s.t.equal(doneWhenClosed, -1, 'close waits while handlers run');
        for (const gate of running) gate.release();
        await closing;
        s.t.equal(doneWhenClosed, concurrency, 'the in-flight handlers finished before close resolved');
        s.t.equal(first.tally.total, concurrency, 'no delivery started after close');
        await s.waitForInfo(broker, r.origin, { depth: left, consumers: 0 });
        const second = new Inbox();
        await r.listen(broker, second.handler);
        await s.waitFor(
          () => second.tally.distinct === left,
          () => `the ${left} left for the next consumer (got ${second.tally.distinct})`,
        );
        const sentinel = await flush(s, r, broker, [second]);
        const union = new Inbox();
        for (const k of [...first.keys, ...second.keys]) if (k !== sentinel) union.tally.add(k);
        s.t.same(
          {
            received: union.tally.total,
            lost: union.tally.lost(expected).length,
            duplicated: union.tally.duplicated,
          },
          { received: 5, lost: 0, duplicated: 0 },
          'both consumers together: received 5, lost 0, duplicated 0',
        );
      },
    );
  }

  scoped(
    parent,
    ctx,
    'subscription close: no new deliveries, in-flight handlers finish first (ephemeral)',
    async (s) => {
      const broker = await s.broker();
      const r = route(s, 'ephemeral');
      const gate = s.gate();
      const closed = new Inbox(() => gate.opened);
      const witness = new Inbox();
      const sub = await r.listen(broker, closed.handler);
      await r.listen(broker, witness.handler);
      await r.emit(broker, { k: 'in-flight' });
      await s.waitFor(() => closed.active === 1, 'handler running');
      let doneWhenClosed = -1;
      const closing = sub.close().then(() => {
        doneWhenClosed = closed.done;
      });
      await yieldToEventLoop();
      s.t.equal(doneWhenClosed, -1, 'close waits while the handler runs');
      gate.release();
      await closing;
      s.t.equal(doneWhenClosed, 1, 'the in-flight handler finished before close resolved');
      const after = keys('after', 3);
      await emitKeys(r, broker, after);
      const sentinel = await flush(s, r, broker, [witness]);
      assertExactly(s.t, closed, ['in-flight'], 'closed subscription');
      assertExactly(s.t, witness, ['in-flight', ...after], 'open subscription', [sentinel]);
    },
  );

  scoped(
    parent,
    ctx,
    'broker close drains: in-flight handlers finish (and may still send) before it resolves',
    async (s) => {
      const broker = await s.broker();
      const r = route(s, 'queue');
      const followUp = route(s, 'queue');
      const gate = s.gate();
      let sendError: unknown = 'not sent';
      const inbox = new Inbox(async () => {
        await gate.opened;
        sendError = await followUp.emit(broker, { k: 'from-handler' }).then(
          () => undefined,
          (error: unknown) => error,
        );
      });
      await r.listen(broker, inbox.handler);
      await r.emit(broker, { k: 'slow' });
      await s.waitFor(() => inbox.active === 1, 'handler running');
      let doneWhenClosed = -1;
      const closing = broker.close().then(() => {
        doneWhenClosed = inbox.done;
      });
      await yieldToEventLoop();
      s.t.equal(doneWhenClosed, -1, 'close waits while the handler runs');
      gate.release();
      await closing;
      s.t.equal(doneWhenClosed, 1, 'the handler finished before close resolved');
      s.t.equal(sendError, undefined, 'a send from a draining handler succeeds');
      s.t.equal(broker.status, 'closed', 'closed afterwards');
      assertExactly(s.t, inbox, ['slow'], 'one delivery');
      if (ctx.features.persistent) {
        const next: Broker = await s.broker();
        await s.waitForInfo(next, r.origin, { depth: 0, consumers: 0 });
        const followed = new Inbox();
        await followUp.listen(next, followed.handler);
        const sentinel = await flush(s, followUp, next, [followed]);
        assertExactly(s.t, followed, ['from-handler'], 'the message sent while draining', [sentinel]);
      }
    },
  );

  scoped(
    parent,
    ctx,
    'await using closes subscriptions and the broker at the end of the block',
    async (s) => {
      const inbox = new Inbox();
      const topic = s.topic('ev');
      let seen: Broker | undefined;
      {
        await using broker = await s.broker();
        seen = broker;
        await using _sub = await broker.subscribe(topic, inbox.handler);
        await broker.publish(topic, { k: 'u' });
        await s.waitFor(() => inbox.has('u'), 'message inside the block');
      }
      s.t.equal(seen.status, 'closed', 'the broker is closed after the block');
      await rejectsWith(s.t, () => seen!.publish(topic, { k: 'v' }), 'BK_CLOSED', 'publish after the block');
      assertExactly(s.t, inbox, ['u'], 'inside the block');
    },
  );
}
