/**
 * Request and reply (docs/architecture.md#request-and-reply): round trips of every payload kind,
 * many requests in flight each answered once with its own answer, timeouts, no responder, remote
 * errors, a responder closing mid-request, groups, middleware, and requests kept apart from
 * events. Reconnection needs a fault only each adapter can make: it is in the adapters' own
 * fault tests.
 */
import { PermanentError, RemoteError, isBrokerkitError } from '@brokerkit/core';
import type { Message, Middleware } from '@brokerkit/core';
import { Tally, uniqueName } from './support.js';
import { rejectsWith, scoped, yieldToEventLoop } from './harness.js';
import type { Payload, Scope, SuiteContext, TapTest } from './harness.js';

/**
 * First token of every request topic, apart from the events' {@link TOPIC_ROOT}: on NATS a
 * request is a plain message on its subject, and the JetStream stream of an event root would
 * capture it (see the NATS README).
 */
export const RPC_ROOT = 'bkrr';

/** A request topic unique to this test: `bkrr.<unique>` plus further tokens. */
function rpcTopic(...suffix: string[]): string {
  return [RPC_ROOT, uniqueName('r'), ...suffix].join('.');
}

/** The code a request to a topic nobody answers rejects with on this adapter. */
function noResponderCode(s: Scope): string {
  return s.features.noRespondersDetected ? 'BK_NO_RESPONDERS' : 'BK_TIMEOUT';
}

/** A short timeout for requests that are meant to time out; long enough for a busy machine's round trip. */
const SHORT_TIMEOUT_MS = 300;

// Named, so a test can check that its frame never reaches the requester.
function throwingResponder(): never {
  const error = new Error('no such user: 42');
  (error as Error & { code: string }).code = 'E_NO_USER';
  throw error;
}

/** Register the request/reply tests under `parent`. */
export function requestReplyTests(parent: TapTest, ctx: SuiteContext): void {
  if (!ctx.features.requestReply) {
    scoped(
      parent,
      ctx,
      'an adapter without request/reply: request and respond reject with BK_UNSUPPORTED',
      async (s) => {
        const broker = await s.broker();
        await rejectsWith(s.t, () => broker.request(rpcTopic(), 1), 'BK_UNSUPPORTED', 'request');
        await rejectsWith(s.t, () => broker.respond(rpcTopic(), () => 1), 'BK_UNSUPPORTED', 'respond');
      },
    );
    return;
  }
  scoped(parent, ctx, 'round trip: object, string and bytes, with headers and ids', async (s) => {
    const broker = await s.broker();
    const topic = rpcTopic('echo');
    const seen: Message[] = [];
    const sub = await broker.respond(`${topic}.*`, (m) => {
      seen.push(m);
      return m.data;
    });
    s.t.same([sub.destination, sub.group], [`${topic}.*`, undefined], 'responder reports its pattern');
    const object = { k: 'obj', n: 42, s: 'héllo ✓ 日本', list: [1, 'two', null, { three: 3 }] };
    const text = 'plain text ✓ with\nnewline';
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const timeoutMs = s.features.timeoutMs;
    const before = Date.now();
    const [o, t, b] = await Promise.all([
      broker.request(`${topic}.object`, object, { timeoutMs, headers: { 'x-custom': 'v1' } }),
      broker.request(`${topic}.text`, text, { timeoutMs }),
      broker.request(`${topic}.bytes`, bytes, { timeoutMs }),
    ]);
    const after = Date.now();
    s.t.same(o.data, object, 'object reply');
    s.t.equal(o.contentType, 'application/json', 'object reply → application/json');
    s.t.equal(t.data, text, 'string reply');
    s.t.equal(t.contentType, 'text/plain', 'string reply → text/plain');
    s.t.ok(b.data instanceof Uint8Array, 'bytes reply is a Uint8Array');
    s.t.same(Array.from(b.data as Uint8Array), Array.from(bytes), 'bytes reply, every byte');
    s.t.equal(b.contentType, 'application/octet-stream', 'bytes reply → application/octet-stream');
    s.t.same(
      [o.topic, t.topic, b.topic],
      [`${topic}.object`, `${topic}.text`, `${topic}.bytes`],
      'reply topic',
    );
    s.t.ok(o.body instanceof Uint8Array && o.id.length > 0, 'reply has a body and an id');
    s.t.equal(seen.length, 3, 'the responder saw each request once');
    const request = seen.find((m) => m.topic === `${topic}.object`);
    s.t.same(request?.headers, { 'x-custom': 'v1' }, 'request headers reach the responder, nothing else');
    s.t.ok((request?.id.length ?? 0) > 0, 'request has an id');
    s.t.equal(request?.attempt, 1, 'request attempt 1');
    const at = request?.timestamp.getTime() ?? 0;
    s.t.ok(at >= before - 1000 && at <= after + 1000, 'request timestamp is the send time');

    await broker.respond(`${topic}-void`, async () => undefined);
    s.t.equal(
      (await broker.request(`${topic}-void`, 'x', { timeoutMs })).data,
      null,
      'undefined replies null',
    );
  });

  scoped(
    parent,
    ctx,
    '1000 requests in flight: each answered exactly once, with its own answer',
    async (s) => {
      const broker = await s.broker();
      const topic = rpcTopic('many');
      const handled = new Tally();
      await broker.respond<Payload>(
        topic,
        (m) => {
          handled.add(m.data.k);
          return { k: m.data.k, double: (m.data.n as number) * 2 };
        },
        { concurrency: 16 },
      );
      const n = 1000;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          broker
            .request<Payload>(topic, { k: `m-${i}`, n: i }, { timeoutMs: s.features.timeoutMs * 2 })
            .then((r) => r.data),
        ),
      );
      const wrong = replies.filter((r, i) => r.k !== `m-${i}` || r.double !== i * 2);
      s.t.same(wrong.slice(0, 5), [], 'every requester got its own answer');
      const expected = Array.from({ length: n }, (_, i) => `m-${i}`);
      s.t.same(
        { handled: handled.total, lost: handled.lost(expected).length, duplicated: handled.duplicated },
        { handled: n, lost: 0, duplicated: 0 },
        `responder handled ${n}, lost 0, duplicated 0`,
      );
    },
  );

  scoped(parent, ctx, 'no reply within timeoutMs → BK_TIMEOUT; the late reply is dropped', async (s) => {
    const broker = await s.broker();
    const topic = rpcTopic('slow');
    const gate = s.gate();
    let calls = 0;
    let finished = 0;
    await broker.respond(topic, async (m) => {
      calls++;
      if (calls === 1) await gate.opened;
      finished++;
      return `answer to ${String(m.data)}`;
    });
    await rejectsWith(
      s.t,
      broker.request(topic, 'first', { timeoutMs: SHORT_TIMEOUT_MS }),
      'BK_TIMEOUT',
      'a request the responder holds',
    );
    gate.release();
    await s.waitFor(() => finished === 1, 'the held handler to finish');
    const reply = await broker.request(topic, 'second', { timeoutMs: s.features.timeoutMs });
    s.t.equal(reply.data, 'answer to second', 'the next request gets its own answer, not the late one');
  });

  scoped(
    parent,
    ctx,
    'a request nobody responds to: BK_NO_RESPONDERS where detected, else BK_TIMEOUT',
    async (s) => {
      const broker = await s.broker();
      const code = noResponderCode(s);
      // Detected means at once: a long timeout would only show as the wrong code, never as slowness.
      const timeoutMs = s.features.noRespondersDetected ? s.features.timeoutMs : SHORT_TIMEOUT_MS;
      await rejectsWith(
        s.t,
        broker.request(rpcTopic('nobody'), { k: 1 }, { timeoutMs }),
        code,
        'no responder',
      );
      const topic = rpcTopic('other');
      await broker.respond(`${topic}.a`, () => 'a');
      await rejectsWith(
        s.t,
        broker.request(`${topic}.b`, { k: 1 }, { timeoutMs }),
        code,
        'a responder of another topic does not count',
      );
    },
  );

  scoped(
    parent,
    ctx,
    "a responder's error reaches the requester as BK_REMOTE: message and code, no stack",
    async (s) => {
      const broker = await s.broker();
      const topic = rpcTopic('fail');
      const timeoutMs = s.features.timeoutMs;
      await broker.respond(`${topic}.plain`, throwingResponder);
      await broker.respond(`${topic}.permanent`, async () => {
        throw new PermanentError('order 7 is cancelled');
      });
      await broker.respond(`${topic}.string`, () => {
        throw 'just a string';
      });
      await broker.respond(`${topic}.unencodable`, () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return cyclic;
      });
      const errorOf = (suffix: string) =>
        broker.request(`${topic}.${suffix}`, { k: suffix }, { timeoutMs }).then(
          () => undefined,
          (e: unknown) => e,
        );
      const plain = await errorOf('plain');
      s.t.ok(plain instanceof RemoteError, 'a RemoteError');
      s.t.ok(isBrokerkitError(plain, 'BK_REMOTE'), 'code BK_REMOTE');
      const remote = plain as RemoteError;
      s.t.same(
        [remote.message, remote.remoteCode, remote.remoteName],
        ['no such user: 42', 'E_NO_USER', 'Error'],
        'the remote message, code and class name',
      );
      s.t.notMatch(String(remote.stack), /throwingResponder/, "the responder's stack does not travel");
      const permanent = (await errorOf('permanent')) as RemoteError;
      s.t.same(
        [permanent.code, permanent.message, permanent.remoteCode],
        ['BK_REMOTE', 'order 7 is cancelled', 'BK_PERMANENT'],
        'a brokerkit error keeps its code as remoteCode',
      );
      const thrownString = (await errorOf('string')) as RemoteError;
      s.t.same([thrownString.code, thrownString.message], ['BK_REMOTE', 'just a string'], 'a thrown string');
      const unencodable = (await errorOf('unencodable')) as RemoteError;
      s.t.same(
        [unencodable.code, unencodable.remoteCode],
        ['BK_REMOTE', 'BK_DECODE'],
        'a reply the codec cannot encode is a remote BK_DECODE',
      );
    },
  );

  scoped(
    parent,
    ctx,
    'a responder closed mid-request answers what it took, then stops responding',
    async (s) => {
      const broker = await s.broker();
      const topic = rpcTopic('closing');
      const gate = s.gate();
      let started = 0;
      const sub = await broker.respond(topic, async (m) => {
        started++;
        await gate.opened;
        return `done: ${String(m.data)}`;
      });
      const pending = broker.request(topic, 'in flight', { timeoutMs: s.features.timeoutMs * 2 });
      await s.waitFor(() => started === 1, 'the handler to start');
      const closing = sub.close();
      await yieldToEventLoop();
      gate.release();
      s.t.equal((await pending).data, 'done: in flight', 'the request in flight is answered');
      await closing;
      s.t.pass('close resolved once the handler finished');
      const timeoutMs = s.features.noRespondersDetected ? s.features.timeoutMs : SHORT_TIMEOUT_MS;
      await rejectsWith(
        s.t,
        broker.request(topic, 'after close', { timeoutMs }),
        noResponderCode(s),
        'nobody responds after close',
      );
      s.t.equal(started, 1, 'the closed responder handled nothing more');
    },
  );

  scoped(
    parent,
    ctx,
    'a group splits requests between members; without a group every responder gets each',
    async (s) => {
      const a = await s.broker();
      const b = await s.broker();
      const topic = rpcTopic('group');
      const group = uniqueName('rg');
      const byMember = { a: new Tally(), b: new Tally() };
      const member = (name: 'a' | 'b') => (m: Message<Payload>) => {
        byMember[name].add(m.data.k);
        return name;
      };
      const subA = await a.respond(`${topic}.*`, member('a'), { group });
      await b.respond(`${topic}.*`, member('b'), { group });
      s.t.equal(subA.group, group, 'responder reports its group');
      const n = 200;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          a.request<string>(`${topic}.x`, { k: `g-${i}` }, { timeoutMs: s.features.timeoutMs }),
        ),
      );
      const handled = byMember.a.total + byMember.b.total;
      s.t.equal(handled, n, `${n} requests handled once each, by one member`);
      s.t.equal(byMember.a.duplicated + byMember.b.duplicated, 0, 'no member handled a request twice');
      s.t.ok(
        byMember.a.total > 0 && byMember.b.total > 0,
        `both members answered (a ${byMember.a.total}, b ${byMember.b.total})`,
      );
      s.t.equal(
        replies.filter((r) => r.data === 'a').length,
        byMember.a.total,
        'each reply came from the member that handled it',
      );

      const fanTopic = rpcTopic('fan');
      const one = new Tally();
      const two = new Tally();
      await a.respond(fanTopic, (m: Message<Payload>) => {
        one.add(m.data.k);
        return 'one';
      });
      await b.respond(fanTopic, (m: Message<Payload>) => {
        two.add(m.data.k);
        return 'two';
      });
      const fan = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          a.request<string>(fanTopic, { k: `f-${i}` }, { timeoutMs: s.features.timeoutMs }),
        ),
      );
      s.t.equal(fan.length, 20, 'each request resolved once, with the first reply');
      await s.waitFor(
        () => one.distinct === 20 && two.distinct === 20,
        () => `both ungrouped responders to see all 20 (got ${one.distinct}, ${two.distinct})`,
      );
      s.t.same([one.duplicated, two.duplicated], [0, 0], 'each saw each request once');
    },
  );

  scoped(parent, ctx, 'middleware sees requests (publish) and responders (handle, settled)', async (s) => {
    const broker = await s.broker();
    const topic = rpcTopic('mw');
    const publishes: string[] = [];
    const handles: string[] = [];
    const outcomes: string[] = [];
    const middleware: Middleware = {
      async publish(context, next) {
        publishes.push(`${context.kind} ${context.message.destination}`);
        context.message.headers['x-mw'] = 'added';
        await next();
      },
      async handle(context, next) {
        handles.push(`${context.kind} ${context.destination} ${context.group ?? '-'}`);
        await next();
      },
      settled(context, outcome, handlerMs) {
        outcomes.push(`${context.kind} ${outcome.kind} ${typeof handlerMs}`);
      },
    };
    broker.use(middleware);
    const group = uniqueName('rg');
    await broker.respond(
      `${topic}.*`,
      (m) => {
        if (m.data === 'fail') throw new Error('asked to fail');
        return m.headers['x-mw'] ?? '<missing>';
      },
      { group },
    );
    const timeoutMs = s.features.timeoutMs;
    const ok = await broker.request(`${topic}.ok`, 'hello', { timeoutMs });
    s.t.equal(ok.data, 'added', 'a header added by publish middleware reaches the responder');
    await rejectsWith(s.t, broker.request(`${topic}.ko`, 'fail', { timeoutMs }), 'BK_REMOTE', 'remote error');
    s.t.same(
      publishes,
      [`request ${topic}.ok`, `request ${topic}.ko`],
      'publish middleware saw both requests',
    );
    s.t.same(
      handles,
      [`respond ${topic}.* ${group}`, `respond ${topic}.* ${group}`],
      'handle middleware saw both',
    );
    s.t.same(outcomes, ['respond reply number', 'respond reply_error number'], 'settled saw both outcomes');
  });

  scoped(
    parent,
    ctx,
    'a request does not reach subscribers of its topic, nor an event responders',
    async (s) => {
      const broker = await s.broker();
      const topic = rpcTopic('apart');
      const events: string[] = [];
      const requests: string[] = [];
      await broker.subscribe(`${topic}.*`, (m) => void events.push(String(m.data)));
      await broker.respond(`${topic}.*`, (m) => {
        requests.push(String(m.data));
        return 'ok';
      });
      const reply = await broker.request(`${topic}.x`, 'a request', { timeoutMs: s.features.timeoutMs });
      s.t.equal(reply.data, 'ok', 'answered');
      // confirm: false — on NATS a confirmed publish provisions a stream on the first token, which
      // would capture the requests of this root (NATS README).
      await broker.publish(`${topic}.x`, 'an event', { confirm: false });
      await s.waitFor(() => events.length >= 1, 'the event to reach the subscriber');
      const sentinel = await broker.request(`${topic}.y`, 'sentinel', { timeoutMs: s.features.timeoutMs });
      s.t.equal(sentinel.data, 'ok', 'the sentinel request was answered');
      s.t.same(events, ['an event'], 'the subscriber saw the event only');
      s.t.same(requests, ['a request', 'sentinel'], 'the responder saw the requests only');
    },
  );

  scoped(
    parent,
    ctx,
    'bad arguments reject with BK_VALIDATION, too large with BK_PAYLOAD_TOO_LARGE; after close BK_CLOSED',
    async (s) => {
      const broker = await s.broker({ maxPayloadBytes: 1_000 });
      const topic = rpcTopic('bad');
      const call = (fn: () => Promise<unknown>) => fn;
      const cases: [string, () => Promise<unknown>, string][] = [
        ['request to a pattern', call(() => broker.request(`${topic}.*`, {})), 'BK_VALIDATION'],
        ['request to a reserved topic', call(() => broker.request('_bk.x', {})), 'BK_VALIDATION'],
        [
          'request { timeout }',
          call(() => broker.request(topic, {}, { timeout: 5 } as never)),
          'BK_VALIDATION',
        ],
        [
          'request { timeoutMs: 0 }',
          call(() => broker.request(topic, {}, { timeoutMs: 0 })),
          'BK_VALIDATION',
        ],
        [
          'request with a reserved header',
          call(() => broker.request(topic, {}, { headers: { 'x-brokerkit-x': '1' } })),
          'BK_VALIDATION',
        ],
        ['request of undefined', call(() => broker.request(topic, undefined)), 'BK_DECODE'],
        [
          'request over maxPayloadBytes',
          call(() => broker.request(topic, 'x'.repeat(2_000))),
          'BK_PAYLOAD_TOO_LARGE',
        ],
        ['respond to a bad pattern', call(() => broker.respond('a..b', () => 1)), 'BK_VALIDATION'],
        ['respond without a handler', call(() => broker.respond(topic, 'no' as never)), 'BK_VALIDATION'],
        [
          'respond { concurency }',
          call(() => broker.respond(topic, () => 1, { concurency: 2 } as never)),
          'BK_VALIDATION',
        ],
        [
          'respond { group: "a.b" }',
          call(() => broker.respond(topic, () => 1, { group: 'a.b' })),
          'BK_VALIDATION',
        ],
        [
          'respond { concurrency: 0 }',
          call(() => broker.respond(topic, () => 1, { concurrency: 0 })),
          'BK_VALIDATION',
        ],
      ];
      for (const [label, fn, code] of cases) await rejectsWith(s.t, fn, code, label);
      await broker.respond(`${topic}.big`, () => 'y'.repeat(2_000));
      const tooLarge = await broker
        .request(`${topic}.big`, 'x', { timeoutMs: s.features.timeoutMs })
        .catch((e: unknown) => e as RemoteError);
      s.t.same(
        [(tooLarge as RemoteError).code, (tooLarge as RemoteError).remoteCode],
        ['BK_REMOTE', 'BK_PAYLOAD_TOO_LARGE'],
        'a reply over maxPayloadBytes is a remote BK_PAYLOAD_TOO_LARGE',
      );
      await broker.close();
      await rejectsWith(s.t, () => broker.request(topic, {}), 'BK_CLOSED', 'request after close');
      await rejectsWith(s.t, () => broker.respond(topic, () => 1), 'BK_CLOSED', 'respond after close');
    },
  );

  scoped(
    parent,
    ctx,
    'requests waiting for a reply when the broker closes reject with BK_CLOSED',
    async (s) => {
      const responding = await s.broker();
      const requesting = await s.broker();
      const topic = rpcTopic('shutdown');
      const gate = s.gate(); // released at teardown, so the responding broker can close then
      await responding.respond(topic, () => gate.opened, { concurrency: 4 });
      const waiting = requesting.request(topic, 'x', { timeoutMs: s.features.timeoutMs * 2 });
      const outcome = waiting.then(
        () => 'resolved',
        (e: unknown) => (e as { code?: string }).code,
      );
      await yieldToEventLoop();
      await requesting.close();
      s.t.equal(await outcome, 'BK_CLOSED', 'the waiting request rejected with BK_CLOSED');
    },
  );
}
