/**
 * Messages (docs/architecture.md#the-contract): payloads, headers, ids and timestamps round-trip on every route; message-id
 * de-duplication where the broker has it; delayed sends; middleware around publish and handle.
 */
import type { DeliveryOutcome, Message, Middleware } from '@brokerkit/core';
import { Inbox, assertCounts, assertExactly, keys, scoped } from './harness.js';
import type { Payload, SuiteContext, TapTest } from './harness.js';
import { ALL_KINDS, emitKeys, flush, route } from './routes.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Register the message round-trip, de-duplication, delay and middleware tests under `parent`. */
export function messageTests(parent: TapTest, ctx: SuiteContext): void {
  for (const kind of ALL_KINDS) {
    scoped(parent, ctx, `round-trip: object, string, bytes, ids, headers, timestamp (${kind})`, async (s) => {
      const broker = await s.broker();
      const r = route(s, kind);
      const received: Message[] = [];
      await r.listen(broker, (m) => void received.push(m as Message));
      const object = {
        k: 'obj',
        n: 42,
        s: 'héllo ✓ 日本',
        list: [1, 'two', null, { three: 3 }],
        nested: { deep: true },
      };
      const text = 'plain text ✓ with\nnewline';
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const ids = { obj: s.key('id-obj'), text: s.key('id-text'), bytes: s.key('id-bytes') };
      const headers = { 'x-custom': 'v1', 'trace-id': 'trace-1' };
      const before = Date.now();
      await Promise.all([
        r.emit(broker, object, { messageId: ids.obj, headers }),
        r.emit(broker, text, { messageId: ids.text }),
        r.emit(broker, bytes, { messageId: ids.bytes, headers: { kind: 'bytes' } }),
        r.emit(broker, { k: 'auto' }),
      ]);
      await s.waitFor(
        () => received.length >= 4,
        () => `4 messages (got ${received.length})`,
      );
      const sentinel = s.key('sentinel');
      await r.emit(broker, { k: sentinel });
      await s.waitFor(() => received.some((m) => (m.data as Payload)?.k === sentinel), 'sentinel');
      const after = Date.now();
      s.t.equal(received.length, 5, 'received 5, lost 0, duplicated 0');

      const byId = new Map(received.map((m) => [m.id, m]));
      const obj = byId.get(ids.obj);
      s.t.same(obj?.data, object, 'object payload');
      s.t.equal(obj?.contentType, 'application/json', 'object → application/json');
      s.t.ok(obj?.body instanceof Uint8Array, 'raw body is a Uint8Array');
      s.t.equal(
        obj ? Buffer.from(obj.body).toString('utf8') : undefined,
        JSON.stringify(object),
        'raw body is the JSON bytes',
      );
      s.t.has(obj?.headers, headers, 'custom headers round-trip');
      const txt = byId.get(ids.text);
      s.t.equal(txt?.data, text, 'string payload');
      s.t.equal(txt?.contentType, 'text/plain', 'string → text/plain');
      const raw = byId.get(ids.bytes);
      s.t.ok(raw?.data instanceof Uint8Array, 'bytes arrive as a Uint8Array');
      s.t.same(Array.from(raw?.data as Uint8Array), Array.from(bytes), 'every byte value 0..255 round-trips');
      s.t.equal(raw?.contentType, 'application/octet-stream', 'bytes → application/octet-stream');
      s.t.equal(raw?.headers.kind, 'bytes', 'header of the bytes message');
      const auto = received.find((m) => (m.data as Payload)?.k === 'auto');
      s.t.match(auto?.id, UUID_V7, 'default message id is a UUID v7');
      for (const m of received) {
        s.t.equal(m.topic, r.topic, `${m.id}: topic`);
        s.t.equal(m.attempt, 1, `${m.id}: attempt 1`);
        s.t.equal(m.redelivered, false, `${m.id}: not redelivered`);
        // Some brokers keep whole seconds (AMQP timestamp): allow one second either side.
        const ts = m.timestamp.getTime();
        s.t.ok(ts >= before - 1000 && ts <= after + 1000, `${m.id}: timestamp is the publish time`, {
          timestamp: m.timestamp,
        });
        s.t.same(
          Object.keys(m.headers).filter((h) => h.startsWith('x-brokerkit-')),
          [],
          `${m.id}: no brokerkit bookkeeping headers`,
        );
      }
    });
  }

  for (const kind of ALL_KINDS) {
    scoped(parent, ctx, `confirm: false publishes are delivered too (${kind})`, async (s) => {
      const broker = await s.broker();
      const r = route(s, kind);
      const inbox = new Inbox();
      await r.listen(broker, inbox.handler);
      const expected = keys('fast', 20);
      await emitKeys(r, broker, expected, { confirm: false });
      // Unconfirmed and confirmed publishes may travel separately (RabbitMQ: two channels), so
      // wait for the messages themselves before the confirmed sentinel checks for duplicates.
      await s.waitFor(
        () => inbox.tally.distinct >= 20,
        () => `20 messages (got ${inbox.tally.distinct})`,
      );
      const sentinel = await flush(s, r, broker, [inbox]);
      assertExactly(s.t, inbox, expected, 'fire-and-forget messages', [sentinel]);
    });
  }

  scoped(parent, ctx, 'message id de-duplication (feature messageIdDedup)', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'queue');
    const inbox = new Inbox();
    await r.listen(broker, inbox.handler);
    const id = s.key('dup');
    await r.emit(broker, { k: 'd' }, { messageId: id });
    await r.emit(broker, { k: 'd' }, { messageId: id });
    const sentinel = await flush(s, r, broker, [inbox]);
    const copies = ctx.features.messageIdDedup ? 1 : 2;
    assertCounts(s.t, inbox, { d: copies, [sentinel]: 1 }, `same id twice → ${copies} deliver(y|ies)`);
  });

  scoped(parent, ctx, 'send with delayMs: not delivered before the delay, delivered after', async (s) => {
    const broker = await s.broker();
    const r = route(s, 'queue');
    const arrivals = new Map<string, number>();
    const inbox = new Inbox((m) => void arrivals.set(m.data.k, Date.now()));
    await r.listen(broker, inbox.handler);
    const delayMs = 400;
    const sentAt = Date.now();
    await broker.send(r.origin, { k: 'later' }, { delayMs });
    await broker.send(r.origin, { k: 'now' });
    await s.waitFor(() => inbox.has('later'), 'the delayed message');
    const sentinel = await flush(s, r, broker, [inbox]);
    s.t.same(inbox.keys, ['now', 'later', sentinel], 'the undelayed message overtakes the delayed one');
    // A lower bound only (with timer slack): no claim about how soon after the delay it comes.
    s.t.ok(arrivals.get('later')! - sentAt >= delayMs - 50, `delivered no earlier than ~${delayMs} ms`, {
      elapsed: arrivals.get('later')! - sentAt,
    });
    assertExactly(s.t, inbox, ['now', 'later'], 'each once', [sentinel]);
  });

  scoped(parent, ctx, 'middleware: use() sees every publish, send, handle and outcome', async (s) => {
    const broker = await s.broker();
    const queue = route(s, 'queue');
    const group = route(s, 'group');
    const publishes: string[] = [];
    const handles: string[] = [];
    const outcomes: string[] = [];
    const middleware: Middleware = {
      async publish(context, next) {
        publishes.push(`${context.kind} ${context.message.destination} ${context.confirm}`);
        context.message.headers['x-mw'] = 'added';
        await next();
      },
      async handle(context, next) {
        handles.push(
          `${context.kind} ${context.destination} ${context.group ?? '-'} ${context.message.attempt}`,
        );
        await next();
      },
      settled(context, outcome: DeliveryOutcome) {
        outcomes.push(`${context.kind} ${outcome.kind}`);
      },
    };
    broker.use(middleware);
    const seenHeaders: string[] = [];
    const inbox = new Inbox((m) => {
      seenHeaders.push(m.headers['x-mw'] ?? '<missing>');
      if (m.data.k === 'q1' && m.attempt === 1) throw new Error('fail once');
    });
    await queue.listen(broker, inbox.handler, { retry: s.retry(3) });
    await group.listen(broker, inbox.handler);
    await queue.emit(broker, { k: 'q1' });
    await group.emit(broker, { k: 'e1' });
    await s.waitFor(
      () => outcomes.length >= 3,
      () => `3 outcomes (got ${outcomes.join(', ')})`,
    );
    s.t.same(
      publishes.sort(),
      [`publish ${group.topic} true`, `send ${queue.origin} true`].sort(),
      'publish middleware saw the publish and the send',
    );
    s.t.same(
      handles.sort(),
      [
        `consume ${queue.origin} - 1`,
        `consume ${queue.origin} - 2`,
        `subscribe ${group.topic} ${group.origin} 1`,
      ].sort(),
      'handle middleware saw every delivery',
    );
    s.t.same(
      outcomes.sort(),
      ['consume ack', 'consume retry', 'subscribe ack'].sort(),
      'settled saw every outcome',
    );
    s.t.same(
      seenHeaders,
      ['added', 'added', 'added'],
      'a header added by publish middleware reaches the handler',
    );
    assertCounts(s.t, inbox, { q1: 2, e1: 1 }, 'deliveries');
  });
}
