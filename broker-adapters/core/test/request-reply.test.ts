import t from 'tap';
import { createBroker } from '../src/broker.js';
import { RemoteError, isBrokerkitError } from '../src/errors.js';
import { HEADER } from '../src/headers.js';
import { ERROR_REPLY, errorReply, remoteError } from '../src/request-reply.js';
import type {
  AnswerFn,
  Middleware,
  OutgoingMessage,
  RawDelivery,
  RequestReplyTransport,
  Transport,
} from '../src/types.js';

const noop = async () => ({ close: async () => {} });

/** A transport whose request/reply loops each request straight into the last responder's answer. */
function loopback(withRequestReply = true): { transport: Transport; sent: OutgoingMessage[] } {
  const sent: OutgoingMessage[] = [];
  let answer: AnswerFn | undefined;
  const requestReply: RequestReplyTransport = {
    async request(message) {
      sent.push(message);
      if (!answer) throw new Error('no responder in the loopback');
      const reply = await answer({
        topic: message.destination,
        body: message.body,
        headers: message.headers,
        contentType: message.contentType,
        id: message.id,
        timestamp: message.timestamp,
        attempt: 1,
        redelivered: false,
      });
      sent.push(reply);
      const raw: RawDelivery = {
        topic: reply.destination,
        body: reply.body,
        headers: reply.headers,
        contentType: reply.contentType,
        id: reply.id,
        timestamp: reply.timestamp,
        attempt: 1,
        redelivered: false,
      };
      return raw;
    },
    async respond(_spec, fn) {
      answer = fn;
      return { close: async () => {} };
    },
  };
  const transport: Transport = {
    adapter: 'loopback',
    ...(withRequestReply ? { requestReply } : {}),
    publish: async () => {},
    send: async () => {},
    subscribe: noop,
    consume: noop,
    close: async () => {},
  };
  return { transport, sent };
}

t.test('an error reply carries message, code and class name, never the stack', async (t) => {
  const error = Object.assign(new TypeError('bad id "x"'), { code: 'E_ID' });
  const reply = errorReply(error, 'users.get');
  t.equal(reply.headers[HEADER.reply], ERROR_REPLY, 'marked as an error');
  t.equal(reply.contentType, 'application/json');
  const text = Buffer.from(reply.body).toString('utf8');
  t.same(JSON.parse(text), { message: 'bad id "x"', name: 'TypeError', code: 'E_ID' });
  t.notMatch(text, /at .*request-reply\.test/, 'no stack frame in the body');
  const back = remoteError(reply.body);
  t.ok(back instanceof RemoteError);
  t.same(
    [back.code, back.message, back.remoteCode, back.remoteName],
    ['BK_REMOTE', 'bad id "x"', 'E_ID', 'TypeError'],
  );
});

t.test('error replies are bounded and tolerate what other clients send', async (t) => {
  const long = errorReply(new Error('x'.repeat(20_000)), 'a.b');
  t.equal(
    (JSON.parse(Buffer.from(long.body).toString('utf8')) as { message: string }).message.length,
    10_000,
  );
  t.equal(
    remoteError(new TextEncoder().encode('not json')).message,
    'the responder failed (no details in its reply)',
  );
  t.same(
    remoteError(new TextEncoder().encode('{"message":7,"code":1}')).remoteCode,
    undefined,
    'wrong types ignored',
  );
  const numeric = errorReply(Object.assign(new Error('teapot'), { code: 418 }), 'a.b');
  t.equal(remoteError(numeric.body).remoteCode, '418', 'a numeric code travels as text');
});

t.test('request and respond through a transport: values, errors, headers, middleware', async (t) => {
  const { transport, sent } = loopback();
  const broker = await createBroker(async () => transport);
  t.teardown(() => broker.close());
  const seen: string[] = [];
  const middleware: Middleware = {
    async publish(context, next) {
      seen.push(`publish ${context.kind}`);
      await next();
    },
    async handle(context, next) {
      seen.push(`handle ${context.kind}`);
      await next();
    },
    settled(context, outcome) {
      seen.push(`settled ${context.kind} ${outcome.kind}`);
    },
  };
  broker.use(middleware);
  await broker.respond<{ n: number }>('math.*', async (m) => {
    if (m.topic === 'math.fail') throw new Error('cannot');
    if (m.topic === 'math.void') return undefined;
    return { double: m.data.n * 2, trace: m.headers.trace };
  });
  const reply = await broker.request<{ double: number; trace: string }>(
    'math.double',
    { n: 21 },
    { headers: { trace: 't-1' } },
  );
  t.same(reply.data, { double: 42, trace: 't-1' }, 'the value, computed from data and headers');
  t.equal(reply.topic, 'math.double', 'the reply carries its request topic');
  t.same(reply.headers, {}, 'no brokerkit headers reach the caller');
  t.equal((await broker.request('math.void', { n: 1 })).data, null, 'undefined replies null');
  const error = await broker.request('math.fail', { n: 1 }).catch((e: unknown) => e);
  t.ok(isBrokerkitError(error, 'BK_REMOTE') && (error as Error).message === 'cannot', 'a remote error');
  t.same(seen, [
    'publish request',
    'handle respond',
    'settled respond reply',
    'publish request',
    'handle respond',
    'settled respond reply',
    'publish request',
    'handle respond',
    'settled respond reply_error',
  ]);
  t.equal(sent[0]!.destination, 'math.double');
});

t.test('a transport without request/reply: BK_UNSUPPORTED; bad input: typed errors', async (t) => {
  const { transport } = loopback(false);
  const broker = await createBroker(async () => transport);
  t.teardown(() => broker.close());
  await t.rejects(broker.request('a.b', 1), { code: 'BK_UNSUPPORTED' });
  await t.rejects(
    broker.respond('a.*', () => 1),
    { code: 'BK_UNSUPPORTED' },
  );
  const full = await createBroker(async () => loopback().transport);
  t.teardown(() => full.close());
  await t.rejects(full.request('a.*', 1), { code: 'BK_VALIDATION' });
  await t.rejects(full.request('a.b', 1, { timeoutMs: -1 }), { code: 'BK_VALIDATION' });
  await t.rejects(full.request('a.b', 1, { confirm: false } as never), { code: 'BK_VALIDATION' });
  await t.rejects(
    full.respond('a.*', () => 1, { prefetch: 2 } as never),
    { code: 'BK_VALIDATION' },
  );
  await t.rejects(
    full.respond('a.*', () => 1, { group: '' }),
    { code: 'BK_VALIDATION' },
  );
});
