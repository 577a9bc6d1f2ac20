/**
 * Inspection (docs/architecture.md#inspection) (capability `QueueInspector`): depth / in-flight / consumers, listing,
 * `BK_NOT_FOUND`, purge, delete with companions, and dead-letter replay that delivers each
 * message exactly once more.
 */
import { PermanentError } from '@brokerkit/core';
import { Inbox, assertCounts, assertExactly, keys, rejectsWith, scoped } from './harness.js';
import type { Gate, SuiteContext, TapTest } from './harness.js';
import { DURABLE_KINDS, emitKeys, flush, route } from './routes.js';

/** Register the inspection tests under `parent`. */
export function inspectionTests(parent: TapTest, ctx: SuiteContext): void {
  const inFlight = (n: number): number | null => (ctx.features.inFlightKnown ? n : null);

  for (const kind of DURABLE_KINDS) {
    scoped(parent, ctx, `queueInfo reports depth, in-flight and consumers (${kind})`, async (s) => {
      const broker = await s.broker();
      const inspector = s.inspector(broker);
      const r = route(s, kind);
      const running: Gate[] = [];
      let blocking = true;
      const inbox = new Inbox(async () => {
        if (!blocking) return;
        const gate = s.gate();
        running.push(gate);
        await gate.opened;
      });
      const sub = await r.listen(broker, inbox.handler, { concurrency: 2 });
      await s.waitForInfo(broker, r.origin, { depth: 0, inFlight: inFlight(0), consumers: 1 });
      const expected = keys('i', 5);
      await emitKeys(r, broker, expected);
      await s.waitFor(() => inbox.active === 2, 'two handlers running');
      const busy = await s.waitForInfo(broker, r.origin, { depth: 3, inFlight: inFlight(2), consumers: 1 });
      s.t.same(
        busy,
        { name: r.origin, kind, depth: 3, inFlight: inFlight(2), consumers: 1 },
        '3 ready, 2 in flight, 1 consumer, logical name and kind',
      );
      const listed = await inspector.listQueues();
      s.t.same(
        listed.filter((q) => q.name === r.origin).map((q) => [q.name, q.kind]),
        [[r.origin, kind]],
        'listQueues contains it once, with its kind',
      );
      blocking = false;
      for (const gate of running) gate.release();
      await s.waitFor(() => inbox.tally.distinct === 5, 'all 5 handled');
      await s.waitForInfo(broker, r.origin, { depth: 0, inFlight: inFlight(0), consumers: 1 });
      await sub.close();
      await s.waitForInfo(broker, r.origin, { depth: 0, inFlight: inFlight(0), consumers: 0 });
      assertExactly(s.t, inbox, expected, 'deliveries');
    });
  }

  scoped(parent, ctx, 'in-flight counts a message waiting for its retry delay, not depth', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'queue');
    const inbox = new Inbox(() => {
      throw new Error('retry later');
    });
    // A long delay keeps the message parked for the whole observation; the test ends before it.
    await r.listen(broker, inbox.handler, {
      retry: { attempts: 2, backoff: { initialMs: 30_000, jitter: false } },
    });
    await r.emit(broker, { k: 'parked' });
    await s.waitFor(() => inbox.done === 1, 'the failed first attempt');
    await s.waitForInfo(broker, r.origin, { depth: 0, inFlight: inFlight(1), consumers: 1 });
    assertExactly(s.t, inbox, ['parked'], 'one attempt so far');
  });

  scoped(
    parent,
    ctx,
    'queueInfo of an unknown name rejects with BK_NOT_FOUND, and it is not listed',
    async (s) => {
      const broker = await s.broker();
      const inspector = s.inspector(broker);
      const unknown = s.queue();
      await rejectsWith(s.t, () => inspector.queueInfo(unknown), 'BK_NOT_FOUND', 'queueInfo');
      await rejectsWith(
        s.t,
        () => inspector.queueInfo(`${unknown}.dlq`),
        'BK_NOT_FOUND',
        'queueInfo of a dlq',
      );
      s.t.same(
        (await inspector.listQueues()).filter((q) => q.name === unknown),
        [],
        'not listed',
      );
    },
  );

  scoped(parent, ctx, 'purge removes every ready message and returns the count', async (s) => {
    const broker = await s.broker();
    const inspector = s.inspector(broker);
    const r = route(s, 'queue');
    await emitKeys(r, broker, keys('purged', 7));
    await s.waitForDepth(broker, r.origin, 7);
    s.t.equal(await inspector.purge(r.origin), 7, 'purge returns 7');
    s.t.equal((await inspector.queueInfo(r.origin)).depth, 0, 'depth 0 right after purge');
    s.t.equal(await inspector.purge(r.origin), 0, 'purging an empty queue returns 0');
    await r.emit(broker, { k: 'after' });
    const inbox = new Inbox();
    await r.listen(broker, inbox.handler);
    const sentinel = await flush(s, r, broker, [inbox]);
    assertExactly(s.t, inbox, ['after'], 'only what was sent after the purge', [sentinel]);
  });

  for (const kind of DURABLE_KINDS) {
    scoped(parent, ctx, `deleteQueue removes the ${kind} with its dead-letter queue`, async (s) => {
      const broker = await s.broker();
      const inspector = s.inspector(broker);
      const r = route(s, kind);
      const sub = await r.listen(broker, () => {
        throw new PermanentError('to the dlq');
      });
      await r.emit(broker, { k: 'dead' });
      await s.waitForDeadLetters(broker, r.origin, 1);
      await s.waitForInfo(broker, `${r.origin}.dlq`, { depth: 1, kind: 'dlq' });
      s.t.ok(
        (await inspector.listQueues()).some((q) => q.name === `${r.origin}.dlq` && q.kind === 'dlq'),
        'the dead-letter queue is listed with kind dlq',
      );
      await sub.close();
      await inspector.deleteQueue(r.origin);
      await rejectsWith(s.t, () => inspector.queueInfo(r.origin), 'BK_NOT_FOUND', `${kind} is gone`);
      await rejectsWith(s.t, () => inspector.queueInfo(`${r.origin}.dlq`), 'BK_NOT_FOUND', 'its dlq is gone');
      const names = (await inspector.listQueues()).map((q) => q.name);
      s.t.notOk(
        names.some((n) => n === r.origin || n.startsWith(`${r.origin}.`)),
        'neither it nor a companion is listed',
      );
    });
  }

  for (const kind of DURABLE_KINDS) {
    scoped(parent, ctx, `dead-letter replay delivers each message exactly once more (${kind})`, async (s) => {
      const broker = await s.broker();
      const inspector = s.inspector(broker);
      const r = route(s, kind);
      let replaying = false;
      const inbox = new Inbox((m) => {
        if (!replaying && m.data.k.startsWith('d-')) throw new PermanentError(`rejected ${m.data.k}`);
      });
      await r.listen(broker, inbox.handler);
      // Another group on the same topic: a replay goes back to its origin only.
      const bystander = new Inbox();
      if (kind === 'group') await broker.subscribe(r.topic, bystander.handler, { group: s.group() });
      const dead = keys('d', 3);
      for (const k of dead) await r.emit(broker, { k }, { headers: { 'x-key': k } });
      const letters = await s.waitForDeadLetters(broker, r.origin, 3);
      s.t.same(letters.map((l) => (l.data as { k: string }).k).sort(), [...dead].sort(), 'peek shows all 3');
      s.t.same((await s.deadLetters(broker, r.origin, 2)).length, 2, 'peek honours its limit');
      s.t.equal((await s.deadLetters(broker, r.origin)).length, 3, 'peeking consumes nothing');
      replaying = true;
      s.t.equal(await inspector.replayDeadLetters(r.origin, { limit: 1 }), 1, 'replay with limit 1 moves 1');
      await s.waitFor(() => inbox.tally.total === 4, 'the first replayed message');
      s.t.equal(await inspector.replayDeadLetters(r.origin), 2, 'replay moves the other 2');
      await s.waitFor(
        () => inbox.tally.total === 6,
        () => `all replayed messages (got ${inbox.tally.total})`,
      );
      s.t.equal(await inspector.replayDeadLetters(r.origin), 0, 'a second replay finds nothing');
      s.t.same(await s.deadLetters(broker, r.origin), [], 'the dead-letter queue is empty');
      const sentinel = await flush(s, r, broker, [inbox]);
      assertCounts(
        s.t,
        inbox,
        { 'd-0': 2, 'd-1': 2, 'd-2': 2, [sentinel]: 1 },
        'each message: the failed delivery plus exactly one replay',
      );
      const replayed = inbox.messages.filter((m) => m.data.k.startsWith('d-')).slice(-3);
      s.t.ok(
        replayed.every((m) => m.attempt === 1 && m.headers['x-key'] === m.data.k && m.topic === r.topic),
        'a replayed message starts again at attempt 1 with its headers and topic',
        { replayed: replayed.map((m) => ({ attempt: m.attempt, headers: m.headers, topic: m.topic })) },
      );
      if (kind === 'group') {
        await s.waitFor(() => bystander.has(sentinel), 'sentinel in the other group');
        assertExactly(s.t, bystander, dead, 'the other group got each once, no replays', [sentinel]);
      }
    });
  }
}
