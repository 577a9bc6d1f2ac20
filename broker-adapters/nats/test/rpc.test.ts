// Request / reply on NATS beyond the contract suite: interop with plain nats.js clients both ways,
// a request a JetStream stream captured, and reconnection through a TCP proxy this file controls
// (it cuts only its own connections, so it runs beside other tests).
import t from 'tap';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { RemoteError, connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { Tally, TcpProxy, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { NATS_HOST, NATS_PORT, NATS_URL, deleteStreams, rawClient } from './support/nats.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: Test, url = NATS_URL, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(url, options);
  t.teardown(() => broker.close());
  return broker;
}

/** A request topic of its own first token: nothing else provisions a stream there. */
function rpcTopic(...suffix: string[]): string {
  return ['bkrpc', uniqueName('n'), ...suffix].join('.');
}

if (await requireService(t, 'nats-server', NATS_HOST, NATS_PORT)) {
  t.test('a plain nats.js client calls a brokerkit responder', async (t) => {
    const broker = await open(t);
    const { nc } = await rawClient(t);
    const topic = rpcTopic();
    await broker.respond(`${topic}.*`, (m) => {
      if (m.topic.endsWith('.fail')) throw Object.assign(new Error('refused'), { code: 'E_REFUSED' });
      if (m.topic.endsWith('.json')) return { got: Buffer.from(m.data as Uint8Array).toString('utf8') };
      return `hello ${Buffer.from(m.data as Uint8Array).toString('utf8')}`;
    });
    const text = await nc.request(`${topic}.text`, 'ada', { timeout: 5_000 });
    t.equal(text.string(), 'hello ada', 'the reply body');
    t.equal(text.headers?.get('Content-Type'), 'text/plain', 'with its content type');
    const json = await nc.request(`${topic}.json`, 'x', { timeout: 5_000 });
    t.same(json.json(), { got: 'x' }, 'a JSON reply');
    const failed = await nc.request(`${topic}.fail`, 'x', { timeout: 5_000 });
    t.equal(failed.headers?.get('x-brokerkit-reply'), 'error', 'an error reply is marked in a header');
    const details = failed.json<Record<string, unknown>>();
    t.same(details, { message: 'refused', name: 'Error', code: 'E_REFUSED' }, 'message, name and code');
    t.notMatch(failed.string(), /\bat\b.*rpc\.test/, 'no stack in the reply');
  });

  t.test('brokerkit calls a plain nats.js responder', async (t) => {
    const broker = await open(t);
    const { nc } = await rawClient(t);
    const topic = rpcTopic();
    const seen: { data: string; hasHeaders: boolean }[] = [];
    nc.subscribe(`${topic}.>`, {
      callback: (_error, msg) => {
        seen.push({ data: msg.string(), hasHeaders: msg.headers !== undefined });
        if (msg.subject.endsWith('.json')) {
          const h = natsHeaders();
          h.set('Content-Type', 'application/json');
          msg.respond(JSON.stringify({ answer: 42 }), { headers: h });
        } else msg.respond(`echo ${msg.string()}`);
      },
    });
    await nc.flush();
    const plain = await broker.request(`${topic}.plain`, 'hi', { timeoutMs: 5_000 });
    t.ok(plain.data instanceof Uint8Array, 'a reply without a content type is bytes');
    t.equal(Buffer.from(plain.data as Uint8Array).toString('utf8'), 'echo hi', 'the reply body');
    const json = await broker.request(`${topic}.json`, { q: 1 }, { timeoutMs: 5_000 });
    t.same(json.data, { answer: 42 }, 'a reply with Content-Type application/json is decoded');
    t.same(seen[0], { data: 'hi', hasHeaders: true }, 'the plain responder got the body as sent');
    nc.subscribe(`${topic}-q`, {
      queue: 'workers',
      callback: (_e, msg) => void msg.respond('from a queue group'),
    });
    await nc.flush();
    const queued = await broker.request(`${topic}-q`, 'x', { timeoutMs: 5_000 });
    t.equal(
      Buffer.from(queued.data as Uint8Array).toString('utf8'),
      'from a queue group',
      'a queue-group responder',
    );
  });

  t.test(
    'a request a JetStream stream captures is refused with BK_CONFIG, not taken as the reply',
    async (t) => {
      const broker = await open(t);
      const { jsm } = await rawClient(t);
      const root = uniqueName('cap');
      const stream = `RR_${root.replace(/-/g, '_')}`;
      t.teardown(() => deleteStreams(jsm, [stream]));
      await jsm.streams.add({
        name: stream,
        subjects: [`${root}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.Memory,
      });
      const error = await broker
        .request(`${root}.get`, { id: 1 }, { timeoutMs: 5_000 })
        .catch((e: unknown) => e);
      t.ok(isBrokerkitError(error, 'BK_CONFIG'), 'BK_CONFIG', { error: String(error) });
      t.match(String((error as Error).message), /stored by a JetStream stream/, 'says what happened');
    },
  );

  t.test('through a TCP proxy: requests wait out an outage and the responder is restored', async (t) => {
    // One proxy each: the outage below is the requester's alone, the cut hits both.
    const proxies = await Promise.all([
      TcpProxy.start(NATS_HOST, NATS_PORT),
      TcpProxy.start(NATS_HOST, NATS_PORT),
    ]);
    t.teardown(() => Promise.all(proxies.map((p) => p.close())));
    const [toResponder, toRequester] = proxies;
    const options: BrokerOptions = { reconnect: { initialMs: 50, maxMs: 300 } };
    const responder = await open(t, `nats://127.0.0.1:${toResponder!.port}`, options);
    const requester = await open(t, `nats://127.0.0.1:${toRequester!.port}`, options);
    for (const b of [responder, requester]) b.on('error', () => undefined);
    const topic = rpcTopic('rc');
    const handled = new Tally();
    await responder.respond<{ k: string }>(
      topic,
      (m) => {
        handled.add(m.data.k);
        return { k: m.data.k };
      },
      { concurrency: 8 },
    );
    const before = await requester.request<{ k: string }>(topic, { k: 'before' }, { timeoutMs: 5_000 });
    t.equal(before.data.k, 'before', 'answered before the outage');

    // A stream of requests through a cut: each either answered with its own answer or failed typed.
    const codes: string[] = [];
    let answered = 0;
    let wrong = 0;
    let cut = false;
    let next = 0;
    const lane = async () => {
      while (next < 600) {
        const k = `s-${next++}`;
        if (next === 200 && !cut) {
          cut = true;
          for (const p of proxies) p.cut();
        }
        try {
          const reply = await requester.request<{ k: string }>(topic, { k }, { timeoutMs: 3_000 });
          if (reply.data.k === k) answered++;
          else wrong++;
        } catch (error) {
          codes.push(isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
    t.ok(cut, 'the connection was cut mid-stream');
    t.equal(wrong, 0, 'no requester got another request’s answer');
    // BK_NO_RESPONDERS too: the requester may be back before the responder has resubscribed.
    const typed = new Set(['BK_UNAVAILABLE', 'BK_TIMEOUT', 'BK_NO_RESPONDERS']);
    t.same(
      codes.filter((c) => !typed.has(c)),
      [],
      `failed requests are typed (answered ${answered}, failed ${codes.length}: ${[...new Set(codes)].join(', ')})`,
    );

    // Requests made while the server is unreachable wait (bounded by timeoutMs) and then go through.
    const down = new Promise<void>((resolve) => requester.once('disconnected', () => resolve()));
    toRequester!.pause();
    await down;
    const during = requester.request<{ k: string }>(topic, { k: 'during' }, { timeoutMs: 15_000 });
    const reconnected = new Promise<void>((resolve) => requester.once('reconnected', () => resolve()));
    toRequester!.resume();
    await reconnected;
    t.equal((await during).data.k, 'during', 'a request made during the outage is answered after it');
    await waitFor(
      async () => {
        const r = await requester
          .request<{ k: string }>(topic, { k: 'after' }, { timeoutMs: 2_000 })
          .catch(() => undefined);
        return r?.data.k === 'after';
      },
      { timeoutMs: 15_000, message: 'a request after the outage' },
    );
    t.pass('the responder was restored with the connection');
  });

  t.test('a RemoteError is what a throwing responder gives, across connections', async (t) => {
    const a = await open(t);
    const b = await open(t);
    const topic = rpcTopic();
    await a.respond(topic, async () => {
      throw new TypeError('bad input');
    });
    const error = await b.request(topic, 1, { timeoutMs: 5_000 }).catch((e: unknown) => e);
    t.ok(error instanceof RemoteError, 'a RemoteError');
    t.same([(error as RemoteError).remoteName, (error as RemoteError).message], ['TypeError', 'bad input']);
  });
}
