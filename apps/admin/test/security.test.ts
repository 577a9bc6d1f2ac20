// Authorisation, input validation and hardening of the admin: every refused request must leave
// the broker exactly as it was.
import t from 'tap';
import type { Broker } from '@brokerkit/core';
import { PermanentError } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { AUTH, TOKEN, adminFor, assertProblem } from './app-helpers.js';
import { targets } from './targets.js';
import type { TapTest } from './targets.js';

const all = targets(t);
const memory = all[0]!;

/** A queue with 4 messages and 2 dead letters, and a check that it is still so. */
async function seeded(t: TapTest, broker: Broker) {
  const queue = uniqueName('sec');
  const worker = await broker.consume(queue, () => {
    throw new PermanentError('to the DLQ');
  });
  await broker.send(queue, 'a');
  await broker.send(queue, 'b');
  await waitFor(async () => (await broker.inspector!.queueInfo(`${queue}.dlq`)).depth === 2);
  await worker.close();
  t.teardown(() => broker.inspector!.deleteQueue(queue).catch(() => {}));
  await Promise.all([1, 2, 3, 4].map((i) => broker.send(queue, i)));
  // Ready plus in flight: on NATS a pull request left by the closed worker may hold one.
  const held = async (name: string) => {
    const info = await broker.inspector!.queueInfo(name);
    return info.depth + (info.inFlight ?? 0);
  };
  await waitFor(async () => (await held(queue)) === 4);
  const unchanged = async () => {
    t.equal(await held(queue), 4, 'queue unchanged');
    t.equal(await held(`${queue}.dlq`), 2, 'dead letters unchanged');
  };
  return { queue, unchanged };
}

const mutating = (queue: string) =>
  [
    ['DELETE', `/api/queues/${queue}`],
    ['POST', `/api/queues/${queue}/purge`],
    ['POST', `/api/queues/${queue}/dead-letters/replay`],
  ] as const;

for (const target of all) {
  t.test(
    `${target.name}: mutating routes: missing or wrong token → 401, no token configured → 403`,
    async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      const { app, logs } = await adminFor(t, broker);
      const { app: locked } = await adminFor(t, broker, { token: undefined });
      const { queue, unchanged } = await seeded(t, broker);
      const wrong = [
        undefined,
        'Bearer wrong-token',
        `Bearer ${TOKEN}x`,
        `Bearer ${TOKEN.slice(0, -1)}`,
        'Bearer',
        `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
        TOKEN,
      ];
      for (const [method, url] of mutating(queue)) {
        for (const authorization of wrong) {
          const response = await app.inject({ method, url, headers: authorization ? { authorization } : {} });
          assertProblem(t, response, 401, 'BK_UNAUTHORIZED');
          t.equal(response.headers['www-authenticate'], 'Bearer realm="brokerkit-admin"');
        }
        assertProblem(t, await locked.inject({ method, url }), 403, 'BK_FORBIDDEN');
        assertProblem(t, await locked.inject({ method, url, headers: AUTH }), 403, 'BK_FORBIDDEN');
      }
      await unchanged();
      t.notOk(logs.join('').includes(TOKEN), 'the token never reaches the logs');
      t.ok(logs.length > 0, 'requests were logged');
    },
  );

  t.test(
    `${target.name}: malformed JSON, unknown fields, wrong types, oversized bodies → 4xx problems`,
    async (t) => {
      const broker = await target.open(t);
      if (!broker) return;
      await rejectsBadInput(t, broker);
    },
  );

  t.test(`${target.name}: bad queue names → 400 BK_VALIDATION on every route`, async (t) => {
    const broker = await target.open(t);
    if (!broker) return;
    await rejectsBadNames(t, broker);
  });
}

t.test('read routes need no token', async (t) => {
  const broker = (await memory.open(t))!;
  const { app } = await adminFor(t, broker, { token: undefined });
  const { queue } = await seeded(t, broker);
  for (const url of [
    '/healthz',
    '/readyz',
    '/metrics',
    '/api/queues',
    `/api/queues/${queue}`,
    `/api/queues/${queue}/dead-letters`,
    '/',
    '/docs/json',
  ]) {
    t.equal((await app.inject(url)).statusCode, 200, url);
  }
});

async function rejectsBadInput(t: TapTest, broker: Broker): Promise<void> {
  const { app } = await adminFor(t, broker, { bodyLimit: 1024 });
  const { queue, unchanged } = await seeded(t, broker);
  const replay = `/api/queues/${queue}/dead-letters/replay`;
  const purge = `/api/queues/${queue}/purge`;
  const post = (url: string, payload: string, type = 'application/json') =>
    app.inject({ method: 'POST', url, headers: { ...AUTH, 'content-type': type }, payload });

  for (const url of [replay, purge]) {
    assertProblem(t, await post(url, '{"limit": 1'), 400, 'BK_VALIDATION');
    assertProblem(t, await post(url, '{"limit": 1, "evil": true}'), 400, 'BK_VALIDATION');
    assertProblem(t, await post(url, '[]'), 400, 'BK_VALIDATION');
    assertProblem(t, await post(url, JSON.stringify({ pad: 'x'.repeat(2048) })), 413, 'BK_PAYLOAD_TOO_LARGE');
    assertProblem(t, await post(url, 'limit=1', 'application/x-www-form-urlencoded'), 415, 'BK_VALIDATION');
  }
  assertProblem(t, await post(replay, '{"limit": "all"}'), 400, 'BK_VALIDATION');
  // No type coercion on bodies: a string or a boolean is not an integer.
  for (const limit of ['"2"', 'true', 'null', '[1]']) {
    const refused = assertProblem(t, await post(replay, `{"limit": ${limit}}`), 400, 'BK_VALIDATION');
    t.match(refused.detail, /body\/limit must be integer/, `limit ${limit}`);
  }
  // Every body that is not JSON is a 415, whatever its type (or none at all).
  for (const type of [
    'text/plain',
    'text/plain; charset=utf-8',
    'application/xml',
    'application/merge-patch+json',
  ]) {
    const refused = assertProblem(t, await post(replay, '{"limit": 1}', type), 415, 'BK_VALIDATION');
    t.match(refused.detail, /must be application\/json/, type);
  }
  assertProblem(
    t,
    await app.inject({ method: 'POST', url: replay, headers: AUTH, payload: Buffer.from('{"limit": 1}') }),
    415,
    'BK_VALIDATION',
  );
  // The bounds are core's (integers 1..1000), checked here first so the answer names the field.
  for (const limit of ['0', '-1', '1.5', '1001']) {
    assertProblem(t, await post(replay, `{"limit": ${limit}}`), 400, 'BK_VALIDATION');
    const peek = `/api/queues/${queue}/dead-letters?limit=${limit}`;
    t.match(assertProblem(t, await app.inject(peek), 400, 'BK_VALIDATION').detail, /limit/);
  }
  const unknownField = assertProblem(
    t,
    await post(replay, '{"limit": 1, "evil": true}'),
    400,
    'BK_VALIDATION',
  );
  t.match(unknownField.detail, /additional properties/);
  assertProblem(t, await app.inject(`/api/queues/${queue}/dead-letters?limit=0`), 400, 'BK_VALIDATION');
  assertProblem(t, await app.inject(`/api/queues/${queue}/dead-letters?limit=5000`), 400, 'BK_VALIDATION');
  assertProblem(t, await app.inject(`/api/queues/${queue}/dead-letters?limit=x`), 400, 'BK_VALIDATION');
  // Query text converts only as a plain decimal numeral: nothing is truncated or reinterpreted.
  for (const limit of ['0x10', '1e2', '2.5', '%202', '', '1&limit=2']) {
    const peek = `/api/queues/${queue}/dead-letters?limit=${limit}`;
    t.match(assertProblem(t, await app.inject(peek), 400, 'BK_VALIDATION').detail, /limit/, peek);
  }
  assertProblem(t, await app.inject(`/api/queues/${queue}/dead-letters?limit=1&x=1`), 400, 'BK_VALIDATION');
  await unchanged();
}

/** Bad names are refused before the broker sees them. */
async function rejectsBadNames(t: TapTest, broker: Broker): Promise<void> {
  const { app } = await adminFor(t, broker);
  const { unchanged } = await seeded(t, broker);
  const bad = [
    '_bk',
    '_INBOX.x',
    'a..b',
    '.a',
    'a.',
    'a%20b',
    '*',
    'orders.*',
    'orders.%3E',
    'a%2Fb',
    'é',
    'x'.repeat(125),
  ];
  for (const name of bad) {
    assertProblem(t, await app.inject(`/api/queues/${name}`), 400, 'BK_VALIDATION');
    assertProblem(t, await app.inject(`/api/queues/${name}/dead-letters`), 400, 'BK_VALIDATION');
    for (const [method, url] of mutating(name)) {
      assertProblem(t, await app.inject({ method, url, headers: AUTH }), 400, 'BK_VALIDATION');
    }
  }
  await unchanged();
}

t.test('mutating routes are rate limited', async (t) => {
  const broker = (await memory.open(t))!;
  const { app } = await adminFor(t, broker, { rateLimit: { max: 3, timeWindowMs: 60_000 } });
  const queue = uniqueName('rl');
  await broker.send(queue, 1);
  const purge = () => app.inject({ method: 'POST', url: `/api/queues/${queue}/purge`, headers: AUTH });
  for (let i = 0; i < 3; i++) t.equal((await purge()).statusCode, 200);
  const limited = await purge();
  assertProblem(t, limited, 429, 'BK_RATE_LIMITED');
  t.ok(limited.headers['retry-after'], 'retry-after header');
  t.equal((await app.inject(`/api/queues/${queue}`)).statusCode, 200, 'reads are not limited');
});

t.test(
  'failed authorisations are limited per client on their own: a wrong token never locks out the right one',
  async (t) => {
    const broker = (await memory.open(t))!;
    const { app, logs } = await adminFor(t, broker, {
      rateLimit: { max: 3, timeWindowMs: 60_000 },
      authFailureLimit: { max: 4, timeWindowMs: 60_000 },
    });
    const queue = uniqueName('rl-bad');
    const purge = (authorization: string | undefined, remoteAddress = '10.0.0.1') =>
      app.inject({
        method: 'POST',
        url: `/api/queues/${queue}/purge`,
        headers: authorization ? { authorization } : {},
        remoteAddress,
      });
    await broker.send(queue, 1);
    for (let i = 0; i < 4; i++) assertProblem(t, await purge('Bearer wrong-guess'), 401, 'BK_UNAUTHORIZED');
    const limited = await purge('Bearer wrong-guess');
    assertProblem(t, limited, 429, 'BK_RATE_LIMITED');
    t.match(limited.headers['retry-after'], /^\d+$/, 'Retry-After in seconds');
    assertProblem(t, await purge(undefined), 429, 'BK_RATE_LIMITED');
    t.equal((await broker.inspector!.queueInfo(queue)).depth, 1, 'nothing purged by the failures');

    const right = await purge(AUTH.authorization);
    t.equal(right.statusCode, 200, 'the right token from the same client still works');
    t.same(JSON.parse(right.body), { queue, purged: 1 });
    assertProblem(t, await purge('Bearer wrong-guess', '10.0.0.2'), 401, 'BK_UNAUTHORIZED');
    t.pass("another client's failures are counted apart");

    // Failures did not use up the valid calls' allowance: 2 more valid calls (3 in all), then 429.
    for (let i = 0; i < 2; i++) t.equal((await purge(AUTH.authorization)).statusCode, 200);
    assertProblem(t, await purge(AUTH.authorization), 429, 'BK_RATE_LIMITED');
    t.match(logs.join(''), /used up its failed authorisations/, 'the lock-out is logged once');
  },
);

t.test('security headers on every response', async (t) => {
  const broker = (await memory.open(t))!;
  const { app } = await adminFor(t, broker);
  for (const url of ['/api/queues', '/', '/nope']) {
    const response = await app.inject(url);
    t.equal(response.headers['x-content-type-options'], 'nosniff', url);
    t.ok(response.headers['content-security-policy'], `${url} has a CSP`);
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', url);
  }
  assertProblem(t, await app.inject('/nope'), 404, 'BK_NOT_FOUND');
});
