// errors.ts against the errors the real client and server produce (no imitations): each case
// makes nats.js fail the way the adapter meets it, then checks the classification and the
// brokerkit error it maps to.
import t from 'tap';
import { requireService, uniqueName } from '@brokerkit/contract-tests';
import {
  ClosedConnectionError,
  DrainingConnectionError,
  Empty,
  InvalidArgumentError,
  NoRespondersError,
  RequestError,
  TimeoutError,
  connect as natsConnect,
} from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TimeoutError as BrokerkitTimeoutError } from '@brokerkit/core';
import {
  API_CODE,
  apiCode,
  isClosedConnection,
  isNoResponders,
  isNotFound,
  isPayloadTooLarge,
  isTransient,
  mapManagementError,
  mapPublishError,
} from '../src/errors.js';
import { jetStreamErrors } from '../src/nats-internals.js';
import { NATS_HOST, NATS_PORT, deleteStreams, rawClient } from './support/nats.js';

if (await requireService(t, 'nats-server', NATS_HOST, NATS_PORT)) await suite();

/** What the promise rejects with (or what `fn` throws): fails the test if it does not fail. */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** Every classification at once, to compare a whole row. */
function classify(error: unknown) {
  return {
    transient: isTransient(error),
    noResponders: isNoResponders(error),
    closed: isClosedConnection(error),
    payloadTooLarge: isPayloadTooLarge(error),
    notFound: isNotFound(error),
  };
}

const NONE = {
  transient: false,
  noResponders: false,
  closed: false,
  payloadTooLarge: false,
  notFound: false,
};

async function suite(): Promise<void> {
  const { nc, jsm } = await rawClient(t);

  t.test('no responders to a request: RequestError caused by NoRespondersError', async (t) => {
    const error = await failure(() => nc.request(uniqueName('nobody'), Empty, { timeout: 5_000 }));
    t.type(error, RequestError);
    t.type((error as Error).cause, NoRespondersError);
    t.same(classify(error), { ...NONE, transient: true, noResponders: true });
    t.match(mapManagementError(error, 'x'), { code: 'BK_UNAVAILABLE', cause: error });
    t.match(mapPublishError(error, 's'), { code: 'BK_UNAVAILABLE' });
  });

  t.test('no responders to requestMany: NoRespondersError itself (named "NoResponders")', async (t) => {
    const error = await failure(async () => {
      for await (const m of await nc.requestMany(uniqueName('nobody'), Empty, { maxWait: 1_000 })) void m;
    });
    t.type(error, NoRespondersError);
    t.equal((error as Error).name, 'NoResponders', 'the name the old name checks missed');
    t.same(classify(error), { ...NONE, transient: true, noResponders: true });
  });

  t.test('a JetStream API nobody answers: JetStreamNotEnabled, transient, no responders', async (t) => {
    const nobody = await jetstreamManager(nc, { apiPrefix: `$${uniqueName('NOJS')}.API`, checkAPI: false });
    const error = await failure(() => nobody.streams.info('ANY'));
    t.type(error, jetStreamErrors.JetStreamNotEnabled);
    t.same(classify(error), { ...NONE, transient: true, noResponders: true });
    t.match(mapManagementError(error, 'stream ANY'), { code: 'BK_UNAVAILABLE' });
  });

  t.test('no answer in time: TimeoutError', async (t) => {
    const subject = uniqueName('silent');
    const silent = nc.subscribe(subject, { callback: () => {} });
    t.teardown(() => silent.unsubscribe());
    await nc.flush();
    const error = await failure(() => nc.request(subject, Empty, { timeout: 100 }));
    t.type(error, TimeoutError);
    t.same(classify(error), { ...NONE, transient: true });
    t.match(mapManagementError(error, 'x'), { code: 'BK_UNAVAILABLE' });
  });

  t.test('a payload over max_payload: InvalidArgumentError, BK_PAYLOAD_TOO_LARGE', async (t) => {
    const big = new Uint8Array(nc.info!.max_payload + 1);
    const error = await failure(() => nc.publish(uniqueName('big'), big));
    t.type(error, InvalidArgumentError);
    t.same(classify(error), { ...NONE, payloadTooLarge: true });
    t.match(mapPublishError(error, 'big'), { code: 'BK_PAYLOAD_TOO_LARGE', cause: error });
    t.ok(!nc.isClosed(), 'the connection stays usable');
    const other = await failure(() => nc.request('', Empty));
    t.notOk(isPayloadTooLarge(other), `another client refusal is not (${String(other)})`);
  });

  t.test('a closed connection: ClosedConnectionError from publish, request and JetStream', async (t) => {
    const closed = await natsConnect({ servers: `${NATS_HOST}:${NATS_PORT}` });
    const closedJsm = await jetstreamManager(closed);
    await closed.close();
    const errors = [
      await failure(() => closed.publish('x', Empty)),
      await failure(() => closed.request('x', Empty)),
      await failure(() => closedJsm.streams.info('ANY')),
    ];
    for (const error of errors) {
      t.type(error, ClosedConnectionError);
      t.same(classify(error), { ...NONE, closed: true });
      t.match(mapManagementError(error, 'x'), { code: 'BK_CLOSED', cause: error });
      t.match(mapPublishError(error, 's'), { code: 'BK_CLOSED' });
    }
  });

  t.test('a draining connection: DrainingConnectionError, closed', async (t) => {
    const draining = await natsConnect({ servers: `${NATS_HOST}:${NATS_PORT}` });
    const drained = draining.drain();
    const error = await failure(() => draining.request('x', Empty));
    await drained;
    t.type(error, DrainingConnectionError);
    t.same(classify(error), { ...NONE, closed: true });
    t.match(mapPublishError(error, 's'), { code: 'BK_CLOSED' });
  });

  t.test(
    'a missing stream or consumer: StreamNotFoundError / ConsumerNotFoundError, BK_NOT_FOUND',
    async (t) => {
      const stream = `S_${uniqueName('e').replaceAll('-', '_')}`;
      const noStream = await failure(() => jsm.streams.info(stream));
      t.type(noStream, jetStreamErrors.StreamNotFoundError);
      t.equal(apiCode(noStream), API_CODE.streamNotFound);
      t.same(classify(noStream), { ...NONE, notFound: true });
      t.match(mapManagementError(noStream, `stream ${stream}`), { code: 'BK_NOT_FOUND' });

      await jsm.streams.add({ name: stream, subjects: [stream] });
      t.teardown(() => deleteStreams(jsm, [stream]));
      const noConsumer = await failure(() => jsm.consumers.info(stream, 'nobody'));
      t.type(noConsumer, jetStreamErrors.ConsumerNotFoundError);
      t.equal(apiCode(noConsumer), API_CODE.consumerNotFound);
      t.same(classify(noConsumer), { ...NONE, notFound: true });
    },
  );

  t.test('JetStream refusing a configuration: JetStreamApiError with its code, BK_CONFIG', async (t) => {
    const a = `S_${uniqueName('a').replaceAll('-', '_')}`;
    const b = `S_${uniqueName('b').replaceAll('-', '_')}`;
    t.teardown(() => deleteStreams(jsm, [a, b]));
    await jsm.streams.add({ name: a, subjects: [a] });
    const inUse = await failure(() => jsm.streams.add({ name: a, subjects: [`${a}.other`] }));
    t.type(inUse, JetStreamApiError);
    t.equal(apiCode(inUse), API_CODE.streamNameInUse);
    t.match(mapManagementError(inUse, `stream ${a}`), { code: 'BK_CONFIG' });
    const overlap = await failure(() => jsm.streams.add({ name: b, subjects: [a] }));
    t.equal(apiCode(overlap), API_CODE.subjectsOverlap);
    t.match(mapManagementError(overlap, `stream ${b}`), { code: 'BK_CONFIG' });
    t.same(classify(overlap), NONE);
  });

  t.test(
    'a stream refusing a message (js.publish): JetStreamApiError, not transient, BK_BROKER',
    async (t) => {
      const stream = `S_${uniqueName('full').replaceAll('-', '_')}`;
      t.teardown(() => deleteStreams(jsm, [stream]));
      await jsm.streams.add({ name: stream, subjects: [stream], max_msgs: 1, discard: DiscardPolicy.New });
      const js = jetstream(nc);
      await js.publish(stream, Empty);
      const error = await failure(() => js.publish(stream, Empty));
      t.type(error, JetStreamApiError);
      t.type(apiCode(error), 'number');
      t.same(classify(error), NONE);
      t.match(mapPublishError(error, stream), { code: 'BK_BROKER' });
    },
  );

  t.test('errors are told apart by class, not by name', async (t) => {
    for (const name of [
      'TimeoutError',
      'NoRespondersError',
      'NoResponders',
      'ClosedConnectionError',
      'JetStreamApiError',
    ]) {
      const lookalike = Object.assign(new Error('x'), { name, code: 10059 });
      t.same(classify(lookalike), NONE, `an Error named ${name} is none of them`);
    }
    t.notOk(
      isTransient(new BrokerkitTimeoutError('t')),
      "brokerkit's own TimeoutError is not a client error",
    );
    t.match(
      mapManagementError(new BrokerkitTimeoutError('t'), 'x'),
      { code: 'BK_TIMEOUT' },
      'passed through',
    );
  });
}
