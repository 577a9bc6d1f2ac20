import t from 'tap';
import { connect, registerAdapter } from '../src/connect.js';
import type { AdapterFactory, OutgoingMessage, Transport, TransportHooks } from '../src/types.js';

/** A transport that records what core hands it: enough to test core's own rules. */
function recordingFactory(sent: OutgoingMessage[], hooksOut?: { hooks?: TransportHooks }): AdapterFactory {
  return async (_settings, hooks) => {
    if (hooksOut) hooksOut.hooks = hooks;
    const transport: Transport = {
      adapter: 'recording',
      publish: async (m) => void sent.push(m),
      send: async (m) => void sent.push(m),
      subscribe: async () => ({ close: async () => {} }),
      consume: async () => ({ close: async () => {} }),
      close: async () => {},
    };
    return transport;
  };
}

t.test('bad URLs reject with BK_VALIDATION without echoing credentials', async (t) => {
  await t.rejects(connect('not a url :pass@'), { code: 'BK_VALIDATION' });
  const err = await connect('amqp//guest:s3cret@host').catch((e: Error) => e);
  t.match(err, { code: 'BK_VALIDATION' });
  t.notMatch((err as Error).message, /s3cret/);
  await t.rejects(connect(' , '), { code: 'BK_VALIDATION' });
});

t.test('unknown schemes reject with BK_CONFIG listing the known ones', async (t) => {
  await t.rejects(connect('kafka://localhost:9092'), {
    code: 'BK_CONFIG',
    message: /amqp, amqps, memory, nats/,
  });
});

t.test('a failing adapter factory becomes BK_UNAVAILABLE with the password redacted', async (t) => {
  registerAdapter('failing', async () => {
    throw new Error('ECONNREFUSED');
  });
  const err = (await connect('failing://u:hunter2@host').catch((e: Error) => e)) as Error;
  t.match(err, { code: 'BK_UNAVAILABLE', cause: { message: 'ECONNREFUSED' } });
  t.notMatch(err.message, /hunter2/);
});

t.test('registerAdapter validates its arguments', async (t) => {
  t.throws(() => registerAdapter('Bad Scheme', recordingFactory([])), { code: 'BK_VALIDATION' });
});

t.test('publish validates and encodes before the transport sees anything', async (t) => {
  const sent: OutgoingMessage[] = [];
  registerAdapter('rec1', recordingFactory(sent));
  const broker = await connect('rec1://', { maxPayloadBytes: 64 });
  t.teardown(() => broker.close());
  await t.rejects(broker.publish('a.*', {}), { code: 'BK_VALIDATION' });
  await t.rejects(broker.send('q.dlq', {}), { code: 'BK_VALIDATION' });
  await t.rejects(broker.publish('a', {}, { headers: { 'x-brokerkit-attempt': '9' } }), {
    code: 'BK_VALIDATION',
  });
  await t.rejects(broker.publish('a', 'x'.repeat(65)), { code: 'BK_PAYLOAD_TOO_LARGE' });
  await t.rejects(broker.publish('a', {}, { timeoutMs: 0 }), { code: 'BK_VALIDATION' });
  await t.rejects(broker.send('a', {}, { delayMs: -1 }), { code: 'BK_VALIDATION' });
  await t.rejects(
    broker.subscribe('a', () => {}, { concurrency: 0 }),
    { code: 'BK_VALIDATION' },
  );
  await t.rejects(
    broker.subscribe('*.x', () => {}, { group: 'g' }),
    { code: 'BK_VALIDATION' },
  );
  t.equal(sent.length, 0, 'nothing reached the transport');
  await broker.publish('orders.created', { id: 1 }, { headers: { k: 'v' }, messageId: 'm-1' });
  t.equal(sent.length, 1);
  t.match(sent[0], {
    id: 'm-1',
    destination: 'orders.created',
    contentType: 'application/json',
    headers: { k: 'v' },
  });
  await broker.send('jobs', 'text');
  t.match(sent[1]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'default ids are UUID v7');
});

t.test('publish middleware runs in order around the transport and may add headers', async (t) => {
  const sent: OutgoingMessage[] = [];
  registerAdapter('rec2', recordingFactory(sent));
  const broker = await connect('rec2://');
  t.teardown(() => broker.close());
  const trail: string[] = [];
  let attachedTo: unknown;
  broker.use({
    attach: (b) => void (attachedTo = b),
    async publish(ctx, next) {
      trail.push('outer');
      ctx.message.headers.traceparent = 't-1';
      await next();
      trail.push('outer done');
    },
  });
  broker.use({
    async publish(_ctx, next) {
      trail.push('inner');
      await next();
    },
  });
  await broker.publish('a', 1);
  t.equal(attachedTo, broker);
  t.same(trail, ['outer', 'inner', 'outer done']);
  t.equal(sent[0]!.headers.traceparent, 't-1');
});

t.test('close is idempotent and every call afterwards rejects with BK_CLOSED', async (t) => {
  registerAdapter('rec3', recordingFactory([]));
  const broker = await connect('rec3://');
  await Promise.all([broker.close(), broker.close()]);
  t.equal(broker.status, 'closed');
  await t.rejects(broker.publish('a', 1), { code: 'BK_CLOSED' });
  await t.rejects(broker.send('a', 1), { code: 'BK_CLOSED' });
  await t.rejects(
    broker.subscribe('a', () => {}),
    { code: 'BK_CLOSED' },
  );
  await t.rejects(
    broker.consume('a', () => {}),
    { code: 'BK_CLOSED' },
  );
  await broker.close();
});

t.test('status changes from the transport become events', async (t) => {
  const box: { hooks?: TransportHooks } = {};
  registerAdapter('rec4', recordingFactory([], box));
  const broker = await connect('rec4://');
  t.teardown(() => broker.close());
  const events: string[] = [];
  broker.on('disconnected', () => events.push('disconnected'));
  broker.on('reconnected', () => events.push('reconnected'));
  broker.on('error', (e) => events.push(`error:${e.message}`));
  box.hooks!.status('reconnecting', new Error('lost'));
  t.equal(broker.status, 'reconnecting');
  box.hooks!.status('ready');
  box.hooks!.error(new Error('boom'));
  t.same(events, ['disconnected', 'reconnected', 'error:boom']);
});

t.test("'blocked' is a status of its own: blocked → ready is no reconnection", async (t) => {
  const box: { hooks?: TransportHooks } = {};
  registerAdapter('rec4b', recordingFactory([], box));
  const broker = await connect('rec4b://');
  t.teardown(() => broker.close());
  const events: string[] = [];
  broker.on('status', (s) => events.push(`status:${s}`));
  broker.on('disconnected', () => events.push('disconnected'));
  broker.on('reconnected', () => events.push('reconnected'));
  box.hooks!.status('blocked', new Error('memory alarm'));
  t.equal(broker.status, 'blocked');
  box.hooks!.status('ready');
  t.same(events, ['status:blocked', 'status:ready'], 'an alarm and its end: two status events, nothing else');
  events.length = 0;
  box.hooks!.status('reconnecting', new Error('lost'));
  box.hooks!.status('blocked', new Error('alarm on the new node'));
  t.same(
    events,
    ['status:reconnecting', 'disconnected', 'status:blocked', 'reconnected'],
    'back on a node that blocks is a reconnection',
  );
});

t.test('await using closes the broker', async (t) => {
  registerAdapter('rec5', recordingFactory([]));
  let held: { status: string } | undefined;
  {
    await using broker = await connect('rec5://');
    held = broker;
  }
  t.equal(held!.status, 'closed');
});
