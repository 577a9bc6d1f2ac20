// The Redis mapping as another client sees it, against the shared server on 127.0.0.1:6379:
// readable entries (XRANGE through redis-cli), entries written by redis-cli reaching brokerkit,
// the trim policy (nothing unread or unacknowledged is trimmed), an ephemeral subscriber that
// falls behind (reported, never silent), opt-in de-duplication, and options and URLs.
import t from 'tap';
import { Redis } from 'ioredis';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, Message } from '@brokerkit/core';
import { Tally, freePort, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { resolveBrokerSettings } from '@brokerkit/core/adapter';
import { clientOptions } from '../src/connection.js';
import { resolveRedisOptions } from '../src/options.js';
import { haveRedisCli, redisCli } from './support/redis-cli.js';
// Brings the `redis` key of connect options into scope (declaration merging).
import type { RedisOptions } from '../src/index.js';

const PORT = 6379;
const URL = `redis://127.0.0.1:${PORT}`;

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: Test, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(URL, options);
  const errors: Error[] = [];
  broker.on('error', (e) => errors.push(e));
  (broker as Broker & { errors?: Error[] }).errors = errors;
  t.teardown(() => broker.close());
  return broker;
}

/** redis-cli is needed for the interop tests: outside CI its absence skips them, with CI=true it fails. */
function needCli(t: Test): boolean {
  if (haveRedisCli()) return true;
  if (process.env.CI === 'true') t.fail('redis-cli missing (CI=true: tools must be installed, see .ci/run)');
  else t.plan(0, 'skip: redis-cli missing');
  return false;
}

function errorsOf(broker: Broker): Error[] {
  return (broker as Broker & { errors?: Error[] }).errors ?? [];
}

/** A first token of its own (one event stream and routes hash), deleted at teardown. */
async function token(t: Test, raw: Redis): Promise<string> {
  const tok = uniqueName('bkrd').replace(/-/g, '');
  t.teardown(() => raw.del(`bk:ev:${tok}`, `bk:routes:${tok}`, `bk:listen:${tok}`).then(() => undefined));
  return tok;
}

/** A queue or group name deleted (with its companions) through the inspector at teardown. */
function tracked(t: Test, name: string): string {
  t.teardown(async () => {
    const janitor = await connect(URL);
    await janitor.inspector!.deleteQueue(name).catch(() => undefined);
    await janitor.close();
  });
  return name;
}

/** An XRANGE reply of redis-cli --raw: entry id, then field and value lines, per entry. */
function entriesOf(lines: string[], fieldsPerEntry: number): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 0; i < lines.length; i += 1 + fieldsPerEntry * 2) {
    const entry: Record<string, string> = { '': lines[i]! };
    for (let j = 0; j < fieldsPerEntry; j++) entry[lines[i + 1 + 2 * j]!] = lines[i + 2 + 2 * j]!;
    out.push(entry);
  }
  return out;
}

if (await requireService(t, 'redis-server', '127.0.0.1', PORT)) {
  const raw = new Redis(PORT, '127.0.0.1');
  t.teardown(() => raw.quit());

  t.test(
    'XRANGE shows what brokerkit published: named fields in the group stream and the topic stream',
    async (t) => {
      if (!needCli(t)) return;
      const tok = await token(t, raw);
      const group = tracked(t, uniqueName('g'));
      const broker = await open(t);
      const got: Message[] = [];
      await broker.subscribe(`${tok}.*`, (m) => void got.push(m), { group });
      const expected = (id: string) => ({
        topic: `${tok}.created`,
        id,
        type: 'application/json',
        time: /^\d{13}$/,
        'h:x-trace': 'abc',
        body: '{"id":"o-1","amount":42}',
      });
      const publish = (id: string) =>
        broker.publish(
          `${tok}.created`,
          { id: 'o-1', amount: 42 },
          { messageId: id, headers: { 'x-trace': 'abc' } },
        );
      await publish('m-1');
      await waitFor(() => got.length === 1);
      const [stored] = entriesOf(await redisCli(PORT, 'XRANGE', `bk:q:${group}`, '-', '+'), 6);
      t.match(stored, expected('m-1'), `bk:q:${group}: readable fields`);
      t.same(
        await redisCli(PORT, 'EXISTS', `bk:ev:${tok}`),
        ['0'],
        'no ephemeral subscriber: nothing written to the topic stream (pub/sub drops what nobody listens to)',
      );
      await broker.subscribe(`${tok}.*`, () => {});
      t.same(await redisCli(PORT, 'EXISTS', `bk:listen:${tok}`), ['1'], 'an ephemeral subscriber listens');
      await publish('m-2');
      const [event] = entriesOf(await redisCli(PORT, 'XRANGE', `bk:ev:${tok}`, '-', '+'), 6);
      t.match(event, expected('m-2'), `bk:ev:${tok}: readable fields`);
      t.same(
        await redisCli(PORT, 'HGET', `bk:routes:${tok}`, group),
        [`${tok}.*`],
        'the group is routed by its pattern',
      );
      t.same(
        await redisCli(PORT, 'HGET', 'bk:names', group),
        [`group ${tok}.*`],
        'and registered as a group',
      );
    },
  );

  t.test(
    'redis-cli XADD reaches brokerkit: events to subscribers of the topic, commands to a work queue',
    async (t) => {
      if (!needCli(t)) return;
      const tok = await token(t, raw);
      const queue = tracked(t, uniqueName('q'));
      const broker = await open(t);
      const events: Message[] = [];
      const bare: Message[] = [];
      const commands: Message[] = [];
      await broker.subscribe(`${tok}.*`, (m) => void events.push(m));
      await broker.subscribe(tok, (m) => void bare.push(m));
      await broker.consume(queue, (m) => void commands.push(m));
      const [eventId] = await redisCli(
        PORT,
        'XADD',
        `bk:ev:${tok}`,
        '*',
        'topic',
        `${tok}.cli`,
        'type',
        'application/json',
        'h:who',
        'cli',
        'body',
        '{"k":"cli"}',
      );
      await redisCli(PORT, 'XADD', `bk:ev:${tok}`, '*', 'body', 'no topic field');
      const [commandId] = await redisCli(
        PORT,
        'XADD',
        `bk:q:${queue}`,
        '*',
        'type',
        'text/plain',
        'body',
        'hello',
      );
      await waitFor(() => events.length === 1 && bare.length === 1 && commands.length === 1, {
        message: () => `events ${events.length}, bare ${bare.length}, commands ${commands.length}`,
      });
      const e = events[0]!;
      t.same(
        { topic: e.topic, data: e.data, headers: e.headers, id: e.id, attempt: e.attempt },
        { topic: `${tok}.cli`, data: { k: 'cli' }, headers: { who: 'cli' }, id: eventId, attempt: 1 },
        'an event with fields: topic, decoded body, headers, the entry id as message id',
      );
      t.equal(e.timestamp.getTime(), Number(eventId!.split('-')[0]), 'timestamp from the entry id');
      t.same(
        [bare[0]!.topic, Buffer.from(bare[0]!.data as Uint8Array).toString()],
        [tok, 'no topic field'],
        'an entry without topic is the first token itself; without type, raw bytes',
      );
      t.same(
        [commands[0]!.data, commands[0]!.id, commands[0]!.topic],
        ['hello', commandId, queue],
        'a command',
      );
      await waitFor(async () => (await broker.inspector!.queueInfo(queue)).inFlight === 0);
      t.same(await redisCli(PORT, 'XPENDING', `bk:q:${queue}`, queue), ['0'], 'and acked: nothing pending');
    },
  );

  t.test('groups and queues share one namespace: the other kind is BK_CONFIG', async (t) => {
    const tok = await token(t, raw);
    const name = tracked(t, uniqueName('n'));
    const other = tracked(t, uniqueName('n'));
    const broker = await open(t);
    await broker.consume(name, () => {});
    await t.rejects(
      broker.subscribe(`${tok}.x`, () => {}, { group: name }),
      { code: 'BK_CONFIG' },
      'a queue → group',
    );
    await broker.subscribe(`${tok}.x`, () => {}, { group: other });
    await t.rejects(
      broker.consume(other, () => {}),
      { code: 'BK_CONFIG' },
      'a group → queue',
    );
    await t.rejects(broker.send(other, 'x'), { code: 'BK_CONFIG' }, 'send to a group');
  });

  t.test('trimming takes what was acknowledged, never what is unread or pending', async (t) => {
    const queue = tracked(t, uniqueName('q'));
    const broker = await open(t);
    const total = 600;
    await Promise.all(Array.from({ length: total }, (_, i) => broker.send(queue, { i })));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen = new Tally();
    await broker.consume(queue, async (m) => {
      const { i } = m.data as { i: number };
      seen.add(String(i));
      if (i === 300) await held;
    });
    await waitFor(() => seen.total === 301, { message: () => `301 handled (${seen.total})` });
    const stream = `bk:q:${queue}`;
    await waitFor(async () => (await raw.xlen(stream)) < total, { timeoutMs: 10_000, message: 'a trim' });
    const [, pendingFrom] = (await raw.xpending(stream, queue)) as [number, string];
    const [[firstLeft]] = (await raw.xrange(stream, '-', '+', 'COUNT', 1)) as unknown as [[string]];
    const order = (id: string) => id.split('-').map(Number) as [number, number];
    const [pm, ps] = order(pendingFrom);
    const [fm, fs] = order(firstLeft);
    t.ok(
      fm < pm || (fm === pm && fs <= ps),
      `the first entry left (${firstLeft}) is not after the pending one (${pendingFrom})`,
    );
    t.ok((await raw.xlen(stream)) >= total - 300, 'the 299 unread and the pending one are all still there');
    release();
    await waitFor(() => seen.distinct === total, { message: () => `all ${total} (${seen.distinct})` });
    t.equal(seen.duplicated, 0, 'each handled once');
  });

  t.test('an ephemeral subscriber that falls behind the trimming is told how many it lost', async (t) => {
    const tok = await token(t, raw);
    const broker = await open(t, { redis: { eventStreamMaxLen: 50 } satisfies RedisOptions });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const got = new Tally();
    await broker.subscribe(`${tok}.*`, async (m) => {
      got.add(String((m.data as { i: number }).i));
      if (got.total === 1) await held;
    });
    const total = 1_000;
    for (let i = 0; i < total; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => broker.publish(`${tok}.x`, { i: i + j })));
    t.ok((await raw.xlen(`bk:ev:${tok}`)) < total, 'the event stream was trimmed');
    release();
    const lost = () =>
      errorsOf(broker)
        .map((e) => /(\d+) event\(s\) were trimmed/.exec(e.message))
        .reduce((sum, m) => sum + (m ? Number(m[1]) : 0), 0);
    await waitFor(() => got.total + lost() === total, {
      timeoutMs: 15_000,
      message: () => `received ${got.total} + reported lost ${lost()} = ${total}`,
    });
    t.ok(lost() > 0, `${lost()} reported lost, ${got.total} received: every event accounted for`);
    t.ok(
      errorsOf(broker).every((e) => isBrokerkitError(e, 'BK_BROKER')),
      'reported as BK_BROKER',
    );
    t.equal(got.duplicated, 0, 'none twice');
  });

  t.test('de-duplication (redis.dedupWindowMs): a repeated messageId is stored once', async (t) => {
    const tok = await token(t, raw);
    const queue = tracked(t, uniqueName('q'));
    const group = tracked(t, uniqueName('g'));
    const broker = await open(t, { redis: { dedupWindowMs: 60_000 } });
    const got = new Tally();
    await broker.consume(queue, (m) => got.add(`q:${String(m.data)}`));
    await broker.subscribe(`${tok}.*`, (m) => got.add(`g:${String(m.data)}`), { group });
    const id = uniqueName('id');
    for (let i = 0; i < 2; i++) {
      await broker.send(queue, 'a', { messageId: id });
      await broker.send(queue, 'b', { messageId: `${id}-delayed`, delayMs: 10 });
      await broker.publish(`${tok}.x`, 'c', { messageId: id });
    }
    await broker.send(queue, 'end', { messageId: `${id}-end` });
    await broker.publish(`${tok}.x`, 'end', { messageId: `${id}-end` });
    await waitFor(() => got.counts.has('q:end') && got.counts.has('g:end') && got.counts.has('q:b'));
    t.same(
      Object.fromEntries(got.counts),
      { 'q:a': 1, 'q:b': 1, 'g:c': 1, 'q:end': 1, 'g:end': 1 },
      'sends, delayed sends and publishes: once each',
    );
    const ttl = await raw.pttl(`bk:seen:${queue}:${id}`);
    t.ok(ttl > 0 && ttl <= 60_000, `the id's key expires with the window (${ttl} ms left)`);
  });

  t.test('options and URLs', async (t) => {
    await t.rejects(
      connect(URL, { redis: { visibiltyTimeoutMs: 5 } as never }),
      { code: 'BK_VALIDATION' },
      'unknown key',
    );
    await t.rejects(
      connect(URL, { redis: { visibilityTimeoutMs: 5 } }),
      { code: 'BK_VALIDATION' },
      'below 100',
    );
    await t.rejects(connect(URL, { redis: { eventStreamMaxLen: 0 } }), { code: 'BK_VALIDATION' }, 'maxlen 0');
    await t.rejects(connect(`${URL}/x`), { code: 'BK_VALIDATION' }, 'a path that is no database number');
    await t.rejects(connect(`${URL},redis://127.0.0.1:6380`), { code: 'BK_CONFIG' }, 'a URL list (Cluster)');
    const closed = await freePort();
    const error = await connect(`redis://:s3cret@127.0.0.1:${closed}`).catch((e: Error) => e);
    t.match(error, { code: 'BK_UNAVAILABLE' }, 'nothing listening: BK_UNAVAILABLE');
    t.notMatch(String((error as Error).message), /s3cret/, 'the password is not in the message');

    const settings = resolveBrokerSettings(
      [new globalThis.URL('rediss://u:p%40ss@cache.example:6380/3')],
      {},
      new Set(),
    );
    const options = clientOptions(settings.urls[0]!, settings, resolveRedisOptions(undefined));
    t.match(
      options,
      {
        host: 'cache.example',
        port: 6380,
        db: 3,
        username: 'u',
        password: 'p@ss',
        tls: { servername: 'cache.example' },
      },
      'rediss://: TLS with SNI, credentials decoded, database from the path',
    );
    const db = await connect(`${URL}/0`);
    t.equal(db.adapter, 'redis', 'a database number in the path connects');
    await db.close();
  });
}
