/**
 * Semantics (docs/architecture.md#message-flow): who gets a message, what is kept while nobody listens, ordering and
 * concurrency — for `publish`+`subscribe` (with and without a group) and `send`+`consume`.
 */
import type { Subscription } from '@brokerkit/core';
import { Inbox, assertExactly, keys, scoped } from './harness.js';
import type { Gate, SuiteContext, TapTest } from './harness.js';
import { ALL_KINDS, emitKeys, flush, route } from './routes.js';

/** Register the delivery-semantics tests under `parent`. */
export function semanticsTests(parent: TapTest, ctx: SuiteContext): void {
  scoped(parent, ctx, 'fan-out: every live subscription gets every message', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'ephemeral');
    const inboxes = [new Inbox(), new Inbox(), new Inbox()];
    for (const inbox of inboxes) await r.listen(broker, inbox.handler);
    // Readiness: subscribe resolved, so messages published right now must arrive.
    const expected = keys('f', 20);
    await emitKeys(r, broker, expected);
    const sentinel = await flush(s, r, broker, inboxes);
    inboxes.forEach((inbox, i) => assertExactly(s.t, inbox, expected, `subscriber ${i}`, [sentinel]));
  });

  if (ctx.features.persistent) {
    scoped(parent, ctx, 'fan-out reaches subscribers on other connections', async (s) => {
      const [publisher, other] = [await s.broker(), await s.broker()];
      const r = route(s, 'ephemeral');
      const local = new Inbox();
      const remote = new Inbox();
      await r.listen(publisher, local.handler);
      await r.listen(other, remote.handler);
      const expected = keys('x', 10);
      await emitKeys(r, publisher, expected);
      const sentinel = await flush(s, r, publisher, [local, remote]);
      assertExactly(s.t, local, expected, 'same connection', [sentinel]);
      assertExactly(s.t, remote, expected, 'other connection', [sentinel]);
    });
  }

  scoped(parent, ctx, 'wildcards: * is one token, trailing > one or more; others do not match', async (s) => {
    const broker = await s.broker();
    const u = s.topic();
    const other = s.topic();
    const published: Record<string, string> = {
      T0: u,
      T1: `${u}.a`,
      T2: `${u}.c`,
      T3: `${u}.a.b`,
      T4: `${u}.c.b`,
      T5: `${u}.a.b.c`,
      T6: `${u}.a.c`,
      T7: `${other}.a`,
    };
    // Expected matches written out by hand, independent of core's matcher.
    const cases: { pattern: string; group?: string; expected: string[] }[] = [
      { pattern: `${u}.a`, expected: ['T1'] },
      { pattern: `${u}.*`, expected: ['T1', 'T2'] },
      { pattern: `${u}.>`, expected: ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'] },
      { pattern: `${u}.*.b`, expected: ['T3', 'T4'] },
      { pattern: `${u}.a.>`, expected: ['T3', 'T5', 'T6'] },
      { pattern: `${u}.*.>`, expected: ['T3', 'T4', 'T5', 'T6'] },
      { pattern: `${u}.*.b`, group: s.group(), expected: ['T3', 'T4'] },
      { pattern: `${u}.>`, group: s.group(), expected: ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'] },
    ];
    const inboxes = cases.map(() => new Inbox());
    for (let i = 0; i < cases.length; i++) {
      await broker.subscribe(cases[i]!.pattern, inboxes[i]!.handler, { group: cases[i]!.group });
    }
    await Promise.all(Object.entries(published).map(([k, topic]) => broker.publish(topic, { k })));
    // Sentinels on topics every subscription matches one of; each pattern waits for its own.
    const s1 = s.key('s1');
    const s2 = s.key('s2');
    await broker.publish(`${u}.a`, { k: s1 });
    await broker.publish(`${u}.a.b`, { k: s2 });
    const sentinelsOf = (pattern: string): string[] => {
      const own: string[] = [];
      if (cases.some((c) => c.pattern === pattern && c.expected.includes('T1'))) own.push(s1);
      if (cases.some((c) => c.pattern === pattern && c.expected.includes('T3'))) own.push(s2);
      return own;
    };
    await s.waitFor(
      () => cases.every((c, i) => sentinelsOf(c.pattern).every((k) => inboxes[i]!.has(k))),
      'sentinels on every pattern',
    );
    cases.forEach((c, i) =>
      assertExactly(
        s.t,
        inboxes[i]!,
        c.expected,
        `${c.group ? 'group ' : ''}${c.pattern.replace(u, '<u>')}`,
        [s1, s2],
      ),
    );
    // The `>` subscriber saw each message under the topic it was published to.
    const seen = Object.fromEntries(inboxes[2]!.messages.map((m) => [m.data.k, m.topic]));
    for (const k of cases[2]!.expected) s.t.equal(seen[k], published[k], `${k} arrives with its topic`);
  });

  scoped(parent, ctx, 'groups: one member of each group, every group gets every message', async (s) => {
    const brokers = ctx.features.persistent ? [await s.broker(), await s.broker()] : [await s.broker()];
    const publisher = brokers[0]!;
    const topic = s.topic('ev');
    const [g1, g2] = [s.group(), s.group()];
    const members1 = new Inbox(); // both members of g1 record into one inbox: the union
    const members2 = new Inbox();
    await brokers[0]!.subscribe(topic, members1.handler, { group: g1 });
    await brokers[brokers.length - 1]!.subscribe(topic, members1.handler, { group: g1 });
    await publisher.subscribe(topic, members2.handler, { group: g2, concurrency: 4 });
    const expected = keys('g', 40);
    await Promise.all(expected.map((k) => publisher.publish(topic, { k })));
    await s.waitFor(
      () => members1.tally.distinct === 40 && members2.tally.distinct === 40,
      () => `every group to get all 40 (g1 ${members1.tally.distinct}, g2 ${members2.tally.distinct})`,
    );
    await s.waitForInfo(publisher, g1, { depth: 0 });
    await s.waitForInfo(publisher, g2, { depth: 0 });
    assertExactly(s.t, members1, expected, 'group 1 (two members together)');
    assertExactly(s.t, members2, expected, 'group 2');
  });

  scoped(parent, ctx, 'groups: kept while no member is connected, once the group exists', async (s) => {
    const broker = await s.broker();
    const topic = s.topic('ev');
    const group = s.group();
    // Before the group exists nothing is kept for it.
    await broker.publish(topic, { k: 'before-group' });
    const first = new Inbox();
    const sub = await broker.subscribe(topic, first.handler, { group });
    await broker.publish(topic, { k: 'live' });
    await s.waitFor(() => first.has('live'), 'live message');
    await sub.close();
    const offline = keys('offline', 5);
    await Promise.all(offline.map((k) => broker.publish(topic, { k })));
    await s.waitForInfo(broker, group, { depth: 5, consumers: 0 });
    const second = new Inbox();
    await broker.subscribe(topic, second.handler, { group });
    await s.waitFor(() => second.tally.distinct === 5, 'the 5 kept messages');
    const sentinel = s.key('sentinel');
    await broker.publish(topic, { k: sentinel });
    await s.waitFor(() => second.has(sentinel), 'sentinel');
    assertExactly(s.t, first, ['live'], 'member before');
    assertExactly(s.t, second, offline, 'member after', [sentinel]);
  });

  if (ctx.features.persistent) {
    scoped(parent, ctx, 'groups: kept across connections while every member is closed', async (s) => {
      const topic = s.topic('ev');
      const group = s.group();
      const first = await s.broker();
      await first.subscribe(topic, () => {}, { group });
      await first.close();
      const publisher = await s.broker();
      const expected = keys('kept', 5);
      await Promise.all(expected.map((k) => publisher.publish(topic, { k })));
      await publisher.close();
      const later = await s.broker();
      const inbox = new Inbox();
      await later.subscribe(topic, inbox.handler, { group });
      await s.waitFor(() => inbox.tally.distinct === 5, 'the 5 kept messages');
      await s.waitForInfo(later, group, { depth: 0 });
      assertExactly(s.t, inbox, expected, 'new connection');
    });
  }

  scoped(parent, ctx, 'ephemeral subscriptions keep nothing while nobody listens', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'ephemeral');
    const sub = await r.listen(broker, () => {});
    await sub.close();
    await emitKeys(r, broker, keys('missed', 3));
    const inbox = new Inbox();
    await r.listen(broker, inbox.handler);
    const sentinel = await flush(s, r, broker, [inbox]);
    assertExactly(s.t, inbox, [], 'resubscribed', [sentinel]);
  });

  scoped(parent, ctx, 'work queue: messages are kept before any consumer exists', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'queue');
    const expected = keys('w', 10);
    await emitKeys(r, broker, expected);
    await s.waitForInfo(broker, r.origin, { depth: 10, consumers: 0, kind: 'queue' });
    const inbox = new Inbox();
    await r.listen(broker, inbox.handler);
    const sentinel = await flush(s, r, broker, [inbox]);
    assertExactly(s.t, inbox, expected, 'first consumer', [sentinel]);
  });

  if (ctx.features.persistent) {
    scoped(parent, ctx, 'work queue: a consumer on another connection gets what was sent', async (s) => {
      const r = route(s, 'queue');
      const sender = await s.broker();
      const expected = keys('w', 10);
      await emitKeys(r, sender, expected);
      await sender.close();
      const worker = await s.broker();
      const inbox = new Inbox();
      await r.listen(worker, inbox.handler);
      const sentinel = await flush(s, r, worker, [inbox]);
      assertExactly(s.t, inbox, expected, 'consumer on a new connection', [sentinel]);
    });
  }

  scoped(parent, ctx, 'work queue: competing consumers share the work without duplicates', async (s) => {
    const brokers = ctx.features.persistent
      ? [await s.broker(), await s.broker(), await s.broker()]
      : [await s.broker()];
    const r = route(s, 'queue');
    const inbox = new Inbox(); // every consumer records into one inbox: the union
    const perConsumer = [0, 0, 0]; // and counts its own share: all three must take part
    const subs: Subscription[] = [];
    for (let i = 0; i < 3; i++) {
      const handler = (m: Parameters<typeof inbox.handler>[0]) => {
        perConsumer[i]!++;
        return inbox.handler(m);
      };
      subs.push(await r.listen(brokers[i % brokers.length]!, handler, { concurrency: 2 }));
    }
    const expected = keys('c', 60);
    await emitKeys(r, brokers[0]!, expected);
    await s.waitFor(
      () => inbox.tally.distinct === 60,
      () => `all 60 (got ${inbox.tally.distinct})`,
    );
    await Promise.all(subs.map((sub) => sub.close()));
    await s.waitForInfo(brokers[0]!, r.origin, {
      depth: 0,
      ...(ctx.features.inFlightKnown ? { inFlight: 0 } : {}),
    });
    assertExactly(s.t, inbox, expected, 'three consumers together');
    s.t.ok(
      perConsumer.every((n) => n > 0),
      `every consumer handled some of the work (${perConsumer.join(', ')})`,
    );
  });

  for (const kind of ALL_KINDS) {
    scoped(
      parent,
      ctx,
      `ordering: concurrency 1 sees one publisher's messages in order (${kind})`,
      async (s) => {
        const broker = await s.broker();
        const r = route(s, kind);
        const inbox = new Inbox();
        await r.listen(broker, inbox.handler, { concurrency: 1 });
        const expected = keys('o', 50);
        await emitKeys(r, broker, expected);
        const sentinel = await flush(s, r, broker, [inbox]);
        s.t.same(
          inbox.keys,
          [...expected, sentinel],
          'arrival order is publish order, nothing lost or repeated',
        );
        s.t.equal(inbox.maxActive, 1, 'one handler at a time');
      },
    );
  }

  // A prefetch above the concurrency lets the broker push ahead, never run more handlers.
  const concurrencyCases = [
    ...ALL_KINDS.map((kind) => ({ kind, prefetch: undefined as number | undefined })),
    { kind: 'queue' as const, prefetch: 10 },
    { kind: 'group' as const, prefetch: 10 },
  ];
  for (const { kind, prefetch } of concurrencyCases) {
    scoped(
      parent,
      ctx,
      `concurrency: at most the limit runs at once, and the limit is used (${kind}${prefetch ? `, prefetch ${prefetch}` : ''})`,
      async (s) => {
        const broker = await s.broker();
        const r = route(s, kind);
        const limit = 3;
        const total = 8;
        const running: Gate[] = [];
        const inbox = new Inbox(async () => {
          const gate = s.gate();
          running.push(gate);
          await gate.opened;
        });
        await r.listen(broker, inbox.handler, { concurrency: limit, prefetch });
        const expected = keys('n', total);
        await emitKeys(r, broker, expected);
        // Release one handler at a time; each time the adapter must refill up to the limit.
        for (let released = 0; released < total;) {
          const want = Math.min(limit, total - released);
          await s.waitFor(
            () => inbox.active >= want,
            () => `${want} handlers running (now ${inbox.active})`,
          );
          s.t.ok(inbox.active <= limit, `no more than ${limit} running (now ${inbox.active})`);
          running.shift()!.release();
          released++;
          await s.waitFor(() => inbox.done >= released, 'released handler to finish');
        }
        s.t.equal(inbox.maxActive, limit, `most handlers at once == ${limit}`);
        assertExactly(s.t, inbox, expected, 'all messages');
      },
    );
  }
}
