// Readiness, missing capabilities, the OpenAPI document and the /metrics exposition; the probes
// plugin on its own (as the subscriber and the publisher serve it).
import t from 'tap';
import { PermanentError } from '@brokerkit/core';
import { createBroker } from '@brokerkit/core/adapter';
import type { Broker, TransportHooks } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { promtoolCheck, sample } from '../../../broker-adapters/metrics/test/prom-text.js';
import { buildApp } from '../src/index.js';
import { probesApp } from '../src/probes.js';
import { AUTH, adminFor, assertProblem, json } from './app-helpers.js';
import { targets } from './targets.js';

/** A broker without an inspector whose status the test drives. */
async function bareBroker(): Promise<{ broker: Broker; hooks: TransportHooks }> {
  let hooks!: TransportHooks;
  const broker = await createBroker(async (h) => {
    hooks = h;
    const noop = async () => {};
    return {
      adapter: 'bare',
      publish: noop,
      send: noop,
      subscribe: async () => ({ close: noop }),
      consume: async () => ({ close: noop }),
      close: noop,
    };
  });
  return { broker, hooks };
}

t.test('readyz is 503 until the broker is ready again, and after close', async (t) => {
  const { broker, hooks } = await bareBroker();
  const { app } = await adminFor(t, broker);
  t.equal((await app.inject('/readyz')).statusCode, 200);
  hooks.status('reconnecting', new Error('socket closed'));
  const down = assertProblem(t, await app.inject('/readyz'), 503, 'BK_UNAVAILABLE');
  t.match(down.detail, /reconnecting/);
  t.equal((await app.inject('/healthz')).statusCode, 200, 'the process is still alive');
  hooks.status('ready');
  t.equal((await app.inject('/readyz')).statusCode, 200);
  await broker.close();
  assertProblem(t, await app.inject('/readyz'), 503, 'BK_UNAVAILABLE');
});

t.test('readyz stays 200 while the broker is blocked, and says so', async (t) => {
  const { broker, hooks } = await bareBroker();
  const { app } = await adminFor(t, broker);
  hooks.status('blocked', new Error('low on memory'));
  const blocked = await app.inject('/readyz');
  t.equal(blocked.statusCode, 200, 'consuming goes on: still ready for traffic');
  t.same(blocked.json(), { status: 'blocked', broker: broker.adapter });
  hooks.status('ready');
  t.same((await app.inject('/readyz')).json(), { status: 'ready', broker: broker.adapter });
  await broker.close();
});

t.test('buildApp adds no middleware to the broker it is given', async (t) => {
  const { broker } = await bareBroker();
  t.teardown(() => broker.close());
  const used: unknown[] = [];
  const use = broker.use.bind(broker);
  broker.use = (middleware) => {
    used.push(middleware);
    return use(middleware);
  };
  const app = await buildApp({ broker, registry: metrics().registry, config: { logLevel: false } });
  t.teardown(() => app.close());
  await app.ready();
  t.equal((await app.inject('/metrics')).statusCode, 200);
  t.same(used, [], 'broker.use never called');
});

t.test(
  'probesApp alone: healthz, readyz with the app-level reason first, metrics, problem 404s',
  async (t) => {
    const { broker, hooks } = await bareBroker();
    t.teardown(() => broker.close());
    const m = metrics({ defaultMetrics: false });
    broker.use(m);
    let reason: string | undefined = 'the test is starting';
    const app = probesApp({ broker, registry: m.registry, notReady: () => reason });
    t.teardown(() => app.close());
    await broker.publish('probe.x', 1);

    t.same(json(await app.inject('/healthz')), { status: 'ok' });
    t.equal(
      assertProblem(t, await app.inject('/readyz'), 503, 'BK_UNAVAILABLE').detail,
      'the test is starting',
    );
    reason = undefined;
    const ready = await app.inject('/readyz');
    t.equal(ready.statusCode, 200);
    t.same(json(ready), { status: 'ready', broker: 'bare' });
    hooks.status('reconnecting', new Error('socket closed'));
    t.equal(
      assertProblem(t, await app.inject('/readyz'), 503, 'BK_UNAVAILABLE').detail,
      'the bare broker is reconnecting',
    );
    reason = 'the test is draining';
    t.equal(
      assertProblem(t, await app.inject('/readyz'), 503, 'BK_UNAVAILABLE').detail,
      'the test is draining',
      "the app's own reason wins over the broker's",
    );

    const scrape = await app.inject('/metrics');
    t.equal(scrape.statusCode, 200);
    t.equal(scrape.headers['content-type'], m.registry.contentType);
    t.equal(scrape.headers['cache-control'], 'no-store');
    t.equal(sample(scrape.body, 'brokerkit_messages_published_total', { destination: 'probe.x' }), 1);
    assertProblem(t, await app.inject('/other'), 404, 'BK_NOT_FOUND');
  },
);

t.test('a broker without queue inspection answers 501 BK_UNSUPPORTED', async (t) => {
  const { broker } = await bareBroker();
  t.teardown(() => broker.close());
  const { app } = await adminFor(t, broker);
  assertProblem(t, await app.inject('/api/queues'), 501, 'BK_UNSUPPORTED');
  assertProblem(t, await app.inject('/api/queues/jobs'), 501, 'BK_UNSUPPORTED');
  assertProblem(t, await app.inject('/api/queues/jobs/dead-letters'), 501, 'BK_UNSUPPORTED');
  assertProblem(
    t,
    await app.inject({ method: 'POST', url: '/api/queues/jobs/purge', headers: AUTH }),
    501,
    'BK_UNSUPPORTED',
  );
  t.equal((await app.inject('/metrics')).statusCode, 200, 'metrics still scrape');
});

t.test('the OpenAPI document lists every route, its schemas and the bearer scheme', async (t) => {
  const { broker } = await bareBroker();
  t.teardown(() => broker.close());
  const { app } = await adminFor(t, broker);
  const doc = json<{
    paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    components: Record<string, unknown>;
  }>(await app.inject('/docs/json'));
  t.same(Object.keys(doc.paths).sort(), [
    '/api/history',
    '/api/queues',
    '/api/queues/{name}',
    '/api/queues/{name}/dead-letters',
    '/api/queues/{name}/dead-letters/replay',
    '/api/queues/{name}/history',
    '/api/queues/{name}/purge',
    '/healthz',
    '/metrics',
    '/readyz',
  ]);
  t.same(doc.paths['/api/queues/{name}/purge']!.post!.security, [{ bearer: [] }]);
  t.ok(doc.paths['/api/queues/{name}']!.get!.responses['404'], 'problem responses documented');
  t.match(doc.components, { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } });
  const ui = await app.inject('/docs');
  t.ok(ui.statusCode === 200 || ui.statusCode === 302, `/docs answers (${ui.statusCode})`);
});

for (const target of targets(t)) {
  t.test(`${target.name}: /metrics counts traffic and passes promtool check metrics`, async (t) => {
    const broker = await target.open(t);
    if (!broker) return;
    const { app } = await adminFor(t, broker);
    const queue = uniqueName('prom');
    t.teardown(() => broker.inspector?.deleteQueue(queue).catch(() => {}));
    let n = 0;
    const worker = await broker.consume<number>(queue, (msg) => {
      n++;
      if (msg.data % 2) throw new PermanentError('odd');
    });
    t.teardown(() => worker.close());
    await Promise.all([0, 1, 2, 3].map((i) => broker.send(queue, i)));
    const text = await waitFor(async () => {
      const body = (await app.inject('/metrics')).body;
      const acked = sample(body, 'brokerkit_messages_consumed_total', { destination: queue, outcome: 'ack' });
      const dead = sample(body, 'brokerkit_messages_consumed_total', {
        destination: queue,
        outcome: 'dead_letter',
      });
      return acked === 2 && dead === 2 ? body : undefined;
    });
    t.equal(n, 4);
    const response = await app.inject('/metrics');
    t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    t.equal(
      sample(text, 'brokerkit_messages_published_total', { broker: broker.adapter, destination: queue }),
      4,
    );
    t.equal(sample(text, 'brokerkit_connection_up', { broker: broker.adapter }), 1);
    t.equal(sample(text, 'brokerkit_process_duration_seconds_count', { destination: queue, group: '' }), 4);
    promtoolCheck(t, text);
  });
}
