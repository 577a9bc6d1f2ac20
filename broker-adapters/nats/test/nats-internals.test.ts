// Guard for src/nats-internals.ts: every nats.js internal and wire detail the adapter relies on,
// checked against the installed client and the real server. A failure names the field and the
// installed version: nats.js changed it, so nats-internals.ts needs updating before the
// @nats-io/* range in package.json may move on.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { createInbox } from '@nats-io/transport-node';
import type { Msg } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream } from '@nats-io/jetstream';
import type { JsMsg } from '@nats-io/jetstream';
import {
  ACK_PREFIX,
  TESTED_NATS_JS,
  jetStreamErrors,
  parseAckSubject,
  rawData,
  rawHeaderLength,
  publishCore,
  rawSubject,
} from '../src/nats-internals.js';
import type { AckSubjectFields } from '../src/nats-internals.js';
import { PulledMessage, isDelivery } from '../src/pulled.js';
import { coreBody, outgoingHeaders, readHeaders, receivedCopy, receivedHeaders } from '../src/wire.js';
import { NATS_HOST, NATS_PORT, deleteStreams, rawClient } from './support/nats.js';

const require = createRequire(import.meta.url);

/** The package root and version of `name`, resolved from `from` (a file path). */
function installed(name: string, from = import.meta.url): { root: string; version: string } {
  const main = createRequire(from).resolve(name);
  let dir = dirname(main);
  while (!dir.endsWith(join('node_modules', name))) dir = dirname(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { root: dir, version: pkg.version };
}

const transport = installed('@nats-io/transport-node');
const js = installed('@nats-io/jetstream');
const VERSIONS = `installed: transport-node ${transport.version}, jetstream ${js.version}`;

/**
 * The label of a guard: what nats-internals.ts relies on, the version it is tested with and the
 * installed one, so that a failure says which internal nats.js changed.
 */
function guard(what: string): string {
  return `${what} (nats-internals.ts is tested with nats.js ${TESTED_NATS_JS}.x; ${VERSIONS})`;
}

t.test('the installed nats.js is the tested minor, one copy of nats-core', async (t) => {
  for (const [name, v] of [
    ['@nats-io/transport-node', transport.version],
    ['@nats-io/jetstream', js.version],
  ] as const) {
    t.ok(
      v.startsWith(`${TESTED_NATS_JS}.`),
      `${name} ${v} is ${TESTED_NATS_JS}.x (nats-internals.ts is tested with it)`,
    );
  }
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const name of ['@nats-io/transport-node', '@nats-io/jetstream']) {
    t.match(
      pkg.dependencies[name],
      new RegExp(`^~${TESTED_NATS_JS.replace('.', '\\.')}\\.\\d+$`),
      `package.json pins ${name} to ~${TESTED_NATS_JS}.x`,
    );
  }
  // errors.ts uses instanceof on the classes the connection's nats-core throws: the jetstream
  // package must use the same copy, or its errors would not match.
  const coreOfTransport = installed('@nats-io/nats-core', join(transport.root, 'package.json'));
  const coreOfJs = installed('@nats-io/nats-core', join(js.root, 'package.json'));
  t.equal(
    coreOfJs.root,
    coreOfTransport.root,
    `one @nats-io/nats-core (transport-node has ${coreOfTransport.version}, jetstream ${coreOfJs.version})`,
  );
  t.equal(
    jetStreamErrors.JetStreamApiError,
    JetStreamApiError,
    guard('@nats-io/jetstream/internal `jserrors` holds the classes of the public entry'),
  );
  for (const name of ['JetStreamNotEnabled', 'StreamNotFoundError', 'ConsumerNotFoundError'] as const) {
    t.type(jetStreamErrors[name], 'function', guard(`@nats-io/jetstream/internal exports jserrors.${name}`));
  }
  t.ok(require.resolve('@nats-io/jetstream/internal'), 'the internal entry resolves');
});

if (await requireService(t, 'nats-server', NATS_HOST, NATS_PORT)) await suite();

async function suite(): Promise<void> {
  const { nc, jsm } = await rawClient(t);
  const body = Buffer.from('body ✓ bytes');
  const message = {
    id: 'guard-1',
    destination: 'guard',
    data: null,
    body,
    contentType: 'text/plain',
    headers: { 'x-a': 'value: ✓', trace: 't1' },
    timestamp: new Date(1_700_000_000_123),
  };
  const block = (outgoingHeaders(message) as unknown as { encode(): Uint8Array }).encode();

  t.test(
    'core message: nats.js writes the pre-encoded block as given; the raw fields read it back exactly',
    async (t) => {
      const subject = uniqueName('guard');
      const got: Msg[] = [];
      for (let i = 0; i < 2; i++) nc.subscribe(subject, { max: 2, callback: (_e, m) => void got.push(m) });
      await nc.flush();
      nc.publish(subject, body, { headers: outgoingHeaders(message) });
      nc.publish(subject, body);
      await waitFor(() => got.length === 4, { message: 'four deliveries' });
      const [withHeaders, copy] = got.filter((m) => m.headers !== undefined);
      const bare = got.find((m) => m.headers === undefined)!;

      const hdr = rawHeaderLength(withHeaders!);
      t.not(hdr, -1, guard('a received core message has MsgImpl._rdata and MsgImpl._msg.hdr'));
      t.equal(hdr, block.byteLength, guard('MsgImpl._msg.hdr is the length of the header block'));
      const raw = rawData(withHeaders!);
      t.ok(raw instanceof Uint8Array, guard('MsgImpl._rdata is a Uint8Array'));
      t.ok(Buffer.isBuffer(raw), guard('MsgImpl._rdata is a Buffer on Node (the fast path of wire.ts)'));
      t.same(
        Buffer.from(raw.subarray(0, hdr)),
        Buffer.from(block),
        guard('publish writes headers.encode() as given, and MsgImpl._rdata starts with that block'),
      );
      t.same(
        Buffer.from(raw.subarray(hdr)),
        body,
        guard('MsgImpl._rdata holds the body right after the header block'),
      );
      t.same(Buffer.from(withHeaders!.data), body, 'msg.data is the same body');
      t.same(
        receivedHeaders(withHeaders!),
        readHeaders(withHeaders!.headers),
        "the raw parse equals nats.js' own header parse",
      );
      const subjectBytes = rawSubject(withHeaders!);
      t.ok(Buffer.isBuffer(subjectBytes), guard('MsgImpl._msg.subject is a Buffer on Node'));
      t.same(
        Buffer.from(subjectBytes!),
        Buffer.from(subject),
        guard('MsgImpl._msg.subject holds the subject bytes'),
      );
      t.equal(
        receivedCopy(withHeaders!, hdr),
        receivedCopy(copy!, rawHeaderLength(copy!)),
        'fan-out copies share one parse',
      );
      t.equal(receivedCopy(withHeaders!, hdr).subject, subject, 'the subject as nats.js decodes it');
      t.same(Buffer.from(coreBody(withHeaders!, hdr)), body, 'coreBody is msg.data');
      t.notOk(Buffer.isBuffer(coreBody(withHeaders!, hdr)), 'a plain Uint8Array');

      t.equal(rawHeaderLength(bare), 0, guard('MsgImpl._msg.hdr is -1 (read as 0) without headers'));
      t.same(
        Buffer.from(rawData(bare)),
        body,
        guard('MsgImpl._rdata is the body of a message without headers'),
      );
    },
  );

  t.test(
    'core publish with a pre-encoded HPUB line: what nc.publish sends, counted alike; refused where nc.publish throws',
    async (t) => {
      const subject = uniqueName('guardpub');
      const got: Msg[] = [];
      nc.subscribe(subject, { max: 2, callback: (_e, m) => void got.push(m) });
      await nc.flush();
      const before = nc.stats();
      t.equal(
        publishCore(nc, subject, outgoingHeaders(message), body),
        true,
        guard(
          'NatsConnectionImpl.protocol has sendCommand, info.max_payload, outBytes/outMsgs, noMorePublishing',
        ),
      );
      nc.publish(subject, body, { headers: outgoingHeaders(message) });
      await waitFor(() => got.length === 2, { message: 'both deliveries' });
      const [framed, plain] = got;
      t.same(
        Buffer.from(rawData(framed!)),
        Buffer.from(rawData(plain!)),
        guard('the same header block and body as nc.publish'),
      );
      t.equal(rawHeaderLength(framed!), block.byteLength, guard('the same header length as nc.publish'));
      t.equal(framed!.subject, subject);
      const after = nc.stats();
      t.equal(after.outMsgs - before.outMsgs, 2, guard('counted in nc.stats() like nc.publish'));
      t.equal(
        after.outBytes - before.outBytes,
        2 * (block.byteLength + body.byteLength),
        guard('outBytes as nc.publish counts them'),
      );

      t.equal(
        publishCore(nc, 'has space', outgoingHeaders(message), body),
        false,
        'a subject nc.publish refuses',
      );
      const huge = new Uint8Array(nc.info!.max_payload + 1);
      t.equal(publishCore(nc, subject, outgoingHeaders(message), huge), false, 'over max_payload');
      t.throws(
        () => nc.publish(subject, huge, { headers: outgoingHeaders(message) }),
        'which nc.publish throws for',
      );
      const closing = await rawClient(t);
      await closing.nc.close();
      t.equal(publishCore(closing.nc, subject, outgoingHeaders(message), body), false, 'a closed connection');
    },
  );

  t.test(
    'JetStream pull delivery: the ack subject parse equals JsMsg.info; the ack bodies work',
    async (t) => {
      const subject = uniqueName('guardjs').replaceAll('-', '_');
      const stream = `GUARD_${subject}`;
      const consumer = 'guard';
      await jsm.streams.add({ name: stream, subjects: [subject, `${subject}.>`] });
      t.teardown(() => deleteStreams(jsm, [stream]));
      // Other messages first, which the consumer does not see: stream sequence, consumer
      // sequence and delivery count all differ, so a token read from the wrong place shows.
      const client = jetstream(nc);
      for (let i = 0; i < 4; i++) await client.publish(`${subject}.other`, body);
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
        ack_wait: 30_000_000_000,
      });
      const ack = await client.publish(subject, body, { headers: outgoingHeaders(message) });
      const c = await client.consumers.get(stream, consumer);

      /** The delivery's ack subject, from the core message JsMsgImpl keeps in `msg` (see rawHeaderLength). */
      const replyOf = (m: JsMsg): string => {
        const core = (m as unknown as { msg?: Msg }).msg;
        t.ok(core?.reply, guard('JsMsgImpl.msg is the core message, with the reply subject'));
        return core?.reply ?? '';
      };
      const compare = (m: JsMsg, delivery: number): void => {
        const out: AckSubjectFields = { deliveryCount: -1, streamSequence: -1, storedAtMs: -1 };
        const reply = replyOf(m);
        t.ok(reply.startsWith(ACK_PREFIX), `reply subject ${reply} starts with ${ACK_PREFIX}`);
        t.ok(parseAckSubject(reply, out), guard(`the $JS.ACK subject parses (${reply})`));
        t.equal(m.info.deliveryCount, delivery, 'nats.js counts the delivery');
        t.equal(
          out.deliveryCount,
          m.info.deliveryCount,
          guard(`the $JS.ACK delivery count equals JsMsg.info.deliveryCount (${reply})`),
        );
        t.equal(
          out.streamSequence,
          m.info.streamSequence,
          guard(`the $JS.ACK stream sequence equals JsMsg.info.streamSequence (${reply})`),
        );
        t.equal(out.streamSequence, ack.seq, 'the sequence the PubAck named');
        t.equal(
          out.storedAtMs,
          Number(m.timestampNanos / 1_000_000n),
          guard(`the $JS.ACK timestamp equals JsMsg.timestampNanos in ms (${reply})`),
        );
        t.ok(
          Math.abs(out.storedAtMs - m.time.getTime()) <= 1,
          'JsMsg.time agrees (it rounds through a float)',
        );
        const pulled = new PulledMessage((m as unknown as { msg: Msg }).msg);
        t.same(
          [pulled.deliveryCount, pulled.streamSequence, pulled.storedAt.getTime()],
          [out.deliveryCount, out.streamSequence, out.storedAtMs],
        );
        // JsMsgImpl keeps the core message in `msg`: its raw header block is read through it.
        t.equal(
          rawHeaderLength(m),
          block.byteLength,
          guard('JsMsgImpl.msg is the core MsgImpl, its header block read through it'),
        );
        t.same(
          Buffer.from(rawData(m).subarray(0, block.byteLength)),
          Buffer.from(block),
          guard('JsMsgImpl.msg._rdata starts with the header block as published'),
        );
        t.same(receivedHeaders(m), readHeaders(m.headers), "the raw parse equals nats.js' own header parse");
      };

      const first = await c.next({ expires: 5_000 });
      t.ok(first, 'delivered');
      t.comment(`ack subject form of this server: ${replyOf(first!).split('.').length} tokens`);
      compare(first!, 1);
      first!.nak();
      const second = await c.next({ expires: 5_000 });
      compare(second!, 2);
      second!.nak();

      // The adapter's own pull (pull-loop.ts): a plain request on the consumer's NEXT subject; the
      // delivery is a core Msg answered with the ack bodies of nats-internals.ts.
      const inbox = createInbox();
      const deliveries: Msg[] = [];
      const sub = nc.subscribe(inbox, { callback: (_e, m) => void deliveries.push(m) });
      t.teardown(() => sub.unsubscribe());
      const pull = (): void =>
        nc.publish(
          `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
          JSON.stringify({ batch: 1, expires: 5_000_000_000 }),
          { reply: inbox },
        );
      pull();
      await waitFor(() => deliveries.some(isDelivery), { message: 'pulled' });
      const raw = new PulledMessage(deliveries.find(isDelivery)!);
      t.same([raw.deliveryCount, raw.streamSequence], [3, ack.seq], 'third delivery of the same message');
      t.equal(raw.storedAt.getTime(), Number(second!.timestampNanos / 1_000_000n), 'same stored time');
      t.equal(
        rawHeaderLength(raw.msg),
        block.byteLength,
        guard('MsgImpl._msg.hdr is the header block length on a pulled delivery'),
      );
      raw.working();
      raw.nak(200);
      const nakAt = Date.now();
      deliveries.length = 0;
      pull();
      await waitFor(() => deliveries.some(isDelivery), { message: 'redelivered after the nak delay' });
      t.ok(Date.now() - nakAt >= 150, '-NAK {"delay":…} delayed the redelivery');
      const again = new PulledMessage(deliveries.find(isDelivery)!);
      t.equal(again.deliveryCount, 4);
      again.ack();
      await waitFor(async () => (await jsm.consumers.info(stream, consumer)).num_ack_pending === 0, {
        message: '+ACK acknowledged it',
      });
      t.equal((await jsm.consumers.info(stream, consumer)).num_pending, 0, 'nothing left');

      await client.publish(subject, body);
      deliveries.length = 0;
      pull();
      await waitFor(() => deliveries.some(isDelivery), { message: 'pulled the second message' });
      const doomed = new PulledMessage(deliveries.find(isDelivery)!);
      t.equal(rawHeaderLength(doomed.msg), 0, 'no headers');
      doomed.term();
      await waitFor(async () => (await jsm.consumers.info(stream, consumer)).num_ack_pending === 0, {
        message: '+TERM ended it',
      });
      t.equal((await jsm.consumers.info(stream, consumer)).num_pending, 0, 'not redelivered');
    },
  );
}
