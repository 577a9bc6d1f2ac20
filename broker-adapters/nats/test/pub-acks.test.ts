// PubAcks alone against the shared server: every way a JetStream publish can end, and how
// errors.ts classifies each (by class: the adapter's PubAck errors, nats.js' own for what the
// client refuses). errors.test.ts covers nats.js' errors on their own.
import t from 'tap';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import {
  ClosedConnectionError,
  InvalidArgumentError,
  PermissionViolationError,
  headers as natsHeaders,
} from '@nats-io/transport-node';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { PubAckApiError, PubAckNoRespondersError, PubAckTimeoutError, PubAcks } from '../src/pub-acks.js';
import {
  apiCode,
  isClosedConnection,
  isNoResponders,
  isPayloadTooLarge,
  isTransient,
  mapPublishError,
} from '../src/errors.js';
import { NATS_HOST, NATS_PORT, deleteStreams, rawClient } from './support/nats.js';

if (await requireService(t, 'nats-server', NATS_HOST, NATS_PORT)) await suite();

function withId(id: string): MsgHdrs {
  const h = natsHeaders();
  h.set('Nats-Msg-Id', id);
  return h;
}

async function suite(): Promise<void> {
  const { nc, jsm } = await rawClient(t);
  const body = new Uint8Array([1, 2, 3]);

  t.test('PubAcks of many publishes in flight, each matched to its own message', async (t) => {
    const subject = uniqueName('pa').replaceAll('-', '_');
    const stream = `S_${subject}`;
    await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Limits });
    t.teardown(() => deleteStreams(jsm, [stream]));
    const acks = new PubAcks(nc);
    t.teardown(() => acks.close());
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => acks.publish(subject, body, withId(`m${i}`), 5_000)),
    );
    t.equal(new Set(results.map((a) => a.seq)).size, 500, '500 distinct sequences');
    t.ok(
      results.every((a) => a.stream === stream && !a.duplicate),
      'every ack names the stream',
    );
    const again = await acks.publish(subject, body, withId('m7'), 5_000);
    t.match(again, { stream, duplicate: true }, 'a repeated Nats-Msg-Id is a duplicate');
    t.equal((await jsm.streams.info(stream)).state.messages, 500, 'stored once each');
  });

  t.test(
    'no stream on the subject: PubAckNoRespondersError, transient (the publisher then re-provisions)',
    async (t) => {
      const acks = new PubAcks(nc);
      t.teardown(() => acks.close());
      const subject = uniqueName('nobody');
      const error = await acks.publish(subject, body, withId('x'), 5_000).catch((e: unknown) => e);
      t.type(error, PubAckNoRespondersError);
      t.match(error, { message: `no stream answers on ${subject}` });
      t.ok(isTransient(error) && isNoResponders(error));
      t.match(mapPublishError(error, subject), { code: 'BK_UNAVAILABLE' });
    },
  );

  t.test('a stream refusing the message: PubAckApiError with its err_code, not transient', async (t) => {
    const subject = uniqueName('full').replaceAll('-', '_');
    const stream = `S_${subject}`;
    await jsm.streams.add({ name: stream, subjects: [subject], max_msgs: 1, discard: DiscardPolicy.New });
    t.teardown(() => deleteStreams(jsm, [stream]));
    const acks = new PubAcks(nc);
    t.teardown(() => acks.close());
    await acks.publish(subject, body, withId('first'), 5_000);
    const error = await acks.publish(subject, body, withId('second'), 5_000).catch((e: unknown) => e);
    t.type(error, PubAckApiError);
    t.match(error, { code: Number, status: Number });
    t.equal(apiCode(error), (error as PubAckApiError).code, "errors.ts reads JetStream's err_code");
    t.notOk(isTransient(error) || isNoResponders(error));
    t.match(mapPublishError(error, subject), { code: 'BK_BROKER' });
  });

  t.test('no answer: PubAckTimeoutError once, a late answer is ignored', async (t) => {
    const subject = uniqueName('silent');
    let late: (() => void) | undefined;
    // A responder that answers only after the publish has timed out.
    const silent = nc.subscribe(subject, {
      callback: (_e, m) => {
        late = () => m.respond(new TextEncoder().encode('{"stream":"S","seq":1}'));
      },
    });
    t.teardown(() => silent.unsubscribe());
    await nc.flush();
    const acks = new PubAcks(nc);
    t.teardown(() => acks.close());
    let settled = 0;
    const error = await acks
      .publish(subject, body, withId('t'), 100)
      .finally(() => settled++)
      .catch((e: unknown) => e);
    t.type(error, PubAckTimeoutError);
    t.ok(isTransient(error));
    t.notOk(isNoResponders(error));
    t.ok(late, 'the responder got the message');
    late!();
    await nc.flush();
    t.equal(settled, 1, 'settled exactly once');
  });

  t.test(
    "over max_payload: rejected (not thrown) with the client's InvalidArgumentError; close rejects the rest",
    async (t) => {
      const acks = new PubAcks(nc);
      const big = new Uint8Array(nc.info!.max_payload + 1);
      const error = await acks.publish(uniqueName('big'), big, withId('b'), 5_000).catch((e: unknown) => e);
      t.type(error, InvalidArgumentError, "nats.js' own error");
      t.ok(isPayloadTooLarge(error));
      t.notOk(isTransient(error) || isClosedConnection(error));
      t.match(mapPublishError(error, 'big'), { code: 'BK_PAYLOAD_TOO_LARGE' });
      const subject = uniqueName('never');
      const silent = nc.subscribe(subject, { callback: () => {} });
      t.teardown(() => silent.unsubscribe());
      const waiting = acks.publish(subject, body, withId('w'), 60_000).catch((e: unknown) => e);
      acks.close();
      t.match(await waiting, { code: 'BK_CLOSED' });
      t.match(await acks.publish(subject, body, withId('after'), 1_000).catch((e: unknown) => e), {
        code: 'BK_CLOSED',
      });
    },
  );
  t.test("a closed connection: rejected with the client's ClosedConnectionError, BK_CLOSED", async (t) => {
    const { nc: closing } = await rawClient(t);
    const acks = new PubAcks(closing);
    t.teardown(() => acks.close());
    await closing.close();
    const error = await acks.publish(uniqueName('closed'), body, withId('c'), 5_000).catch((e: unknown) => e);
    t.type(error, ClosedConnectionError, "nats.js' own error");
    t.ok(isClosedConnection(error));
    t.notOk(isTransient(error));
    t.match(mapPublishError(error, 'closed'), { code: 'BK_CLOSED' });
  });

  t.test('a refused reply subscription fails what waits, then is made again', async (t) => {
    // The server ending a subscription (e.g. a permissions violation) cannot be staged on the shared
    // server without changing its users, so this drives PubAcks through a connection stand-in.
    const callbacks: Array<(error: Error | null, msg: unknown) => void> = [];
    let unsubscribed = 0;
    const published: string[] = [];
    const fake = {
      isClosed: () => false,
      subscribe: (_subject: string, opts: { callback: (error: Error | null, msg: unknown) => void }) => {
        callbacks.push(opts.callback);
        return { unsubscribe: () => void unsubscribed++ };
      },
      publish: (subject: string) => void published.push(subject),
    };
    const acks = new PubAcks(fake as unknown as NatsConnection);
    t.teardown(() => acks.close());
    const waiting = acks.publish('orders.x', new Uint8Array(1), withId('p'), 60_000).catch((e: unknown) => e);
    // What nats.js makes of the server's -ERR for it (its own parser, its own class).
    const refused = PermissionViolationError.parse('Permissions Violation for Subscription to "_INBOX.x.*"')!;
    t.type(refused, PermissionViolationError);
    callbacks[0]!(refused, undefined);
    t.equal(await waiting, refused, 'the waiting publish fails with the cause');
    await waitFor(() => callbacks.length === 2, { timeoutMs: 5_000, message: 'subscribed again' });
    t.equal(unsubscribed, 1, 'the old subscription was released');
    t.equal(published.length, 1);
  });
}
