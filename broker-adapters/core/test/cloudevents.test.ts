// CloudEvents 1.0 binary mode: validation (BK_VALIDATION), the header mapping of each binding,
// msg.cloudEvent on delivery, per-broker defaults, and interop with the official `cloudevents`
// SDK on the memory broker. Through RabbitMQ and NATS with foreign clients: cross-broker.test.ts.
import t from 'tap';
import { CloudEvent, HTTP } from 'cloudevents';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { readCloudEvent, writeCloudEvent } from '../src/cloudevents.js';
import { defaultCodec } from '../src/codec.js';
import { connect } from '../src/connect.js';
import { createDispatcher } from '../src/delivery.js';
import { resolveRetryPolicy } from '../src/retry.js';
import type { Broker, BrokerOptions, CloudEventOptions, Headers, Message } from '../src/types.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const MESSAGE = {
  id: '0190a6d2-7e4f-7a3b-8c1d-2e3f4a5b6c7d',
  destination: 'orders.created',
  timestamp: new Date('2026-01-02T03:04:05.678Z'),
  contentType: 'application/json',
};

function written(
  options: CloudEventOptions | undefined,
  binding: 'ce-headers' | 'amqp',
  defaults?: { source: string },
) {
  const headers: Headers = {};
  writeCloudEvent(headers, options, defaults, MESSAGE, binding);
  return headers;
}

async function memoryBroker(t: Tap, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(`memory://${uniqueName('ce')}`, options);
  t.teardown(() => broker.close());
  return broker;
}

/** The first message `publish` produces on a fresh work queue. */
async function deliveredAfter(broker: Broker, publish: (queue: string) => Promise<void>): Promise<Message> {
  const queue = uniqueName('q');
  let message: Message | undefined;
  await broker.consume(queue, (m) => void (message = m));
  await publish(queue);
  return waitFor(() => message, { timeoutMs: 5000, message: 'the message' });
}

/**
 * What an HTTP-binding reader (the SDK) sees of a message: its ce- headers, content type and body
 * (as text for a text or JSON type, as a server hands the SDK a request body).
 */
function asSdkMessage(message: Message) {
  const bytes = Buffer.from(message.body);
  const text = message.contentType === 'application/json' || message.contentType.startsWith('text/');
  return {
    headers: { ...message.headers, 'content-type': message.contentType },
    body: text ? bytes.toString('utf8') : bytes,
  };
}

t.test('ce-headers binding: every attribute as a ce- header, values percent-encoded', async (t) => {
  t.same(
    written(
      {
        type: 'com.example.order.created',
        source: '/orders',
        subject: 'Euro € 😀',
        dataschema: 'https://example.com/schemas/order.json',
        extensions: { tenant: 'acme', priority: '5' },
      },
      'ce-headers',
    ),
    {
      'ce-specversion': '1.0',
      'ce-id': MESSAGE.id,
      'ce-source': '/orders',
      'ce-type': 'com.example.order.created',
      'ce-time': '2026-01-02T03:04:05.678Z',
      'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80',
      'ce-dataschema': 'https://example.com/schemas/order.json',
      'ce-tenant': 'acme',
      'ce-priority': '5',
      'ce-datacontenttype': 'application/json',
    },
    'id and time default to the message’s; the NATS binding’s own example encodes like this',
  );
  t.same(
    written({ type: 't', source: 's', id: 'e-1', time: '2026-05-06T07:08:09+02:00' }, 'ce-headers'),
    {
      'ce-specversion': '1.0',
      'ce-id': 'e-1',
      'ce-source': 's',
      'ce-type': 't',
      'ce-time': '2026-05-06T07:08:09+02:00',
      'ce-datacontenttype': 'application/json',
    },
    'given id and RFC 3339 time are kept as written',
  );
});

t.test('amqp binding: cloudEvents_ application properties, content type in its own property', async (t) => {
  t.same(written({ type: 'com.example.x', source: 'urn:svc:a', subject: 'a b' }, 'amqp'), {
    cloudEvents_specversion: '1.0',
    cloudEvents_id: MESSAGE.id,
    cloudEvents_source: 'urn:svc:a',
    cloudEvents_type: 'com.example.x',
    cloudEvents_time: '2026-01-02T03:04:05.678Z',
    cloudEvents_subject: 'a b',
  });
});

t.test('missing or malformed attributes reject with BK_VALIDATION before anything is sent', async (t) => {
  const bad: [string, unknown][] = [
    ['no type', { source: '/s' }],
    ['no source', { type: 't' }],
    ['empty type', { type: '', source: '/s' }],
    ['source with whitespace', { type: 't', source: 'not a uri' }],
    ['empty id', { type: 't', source: '/s', id: '' }],
    ['non-string subject', { type: 't', source: '/s', subject: 5 }],
    ['control character', { type: 't\n', source: '/s' }],
    ['time not RFC 3339', { type: 't', source: '/s', time: '2026-01-02 03:04' }],
    ['invalid Date', { type: 't', source: '/s', time: new Date('nope') }],
    ['relative dataschema', { type: 't', source: '/s', dataschema: '/schemas/x' }],
    ['unknown key', { type: 't', source: '/s', specversion: '0.3' }],
    ['bad extension name', { type: 't', source: '/s', extensions: { 'Tenant-Id': 'x' } }],
    ['extension named like an attribute', { type: 't', source: '/s', extensions: { id: 'x' } }],
    ['non-string extension', { type: 't', source: '/s', extensions: { n: 1 } }],
    ['not an object', 'yes'],
  ];
  const broker = await memoryBroker(t);
  let delivered = 0;
  await broker.consume('jobs', () => void delivered++);
  for (const [label, cloudEvent] of bad) {
    await t.rejects(
      broker.send('jobs', { k: 1 }, { cloudEvent: cloudEvent as CloudEventOptions }),
      { code: 'BK_VALIDATION' },
      label,
    );
  }
  await t.rejects(connect('memory://', { cloudEvents: {} as { source: string } }), { code: 'BK_VALIDATION' });
  await t.rejects(
    connect('memory://', { cloudEvents: { source: '/s', type: 'x' } as { source: string } }),
    { code: 'BK_VALIDATION' },
    'unknown key of the cloudEvents option',
  );
  await broker.send('jobs', 'sentinel');
  await waitFor(() => delivered === 1, { timeoutMs: 5000 });
  t.equal(delivered, 1, 'only the sentinel was delivered');
});

t.test('msg.cloudEvent on delivery; per-broker defaults and per-call opt-out', async (t) => {
  const broker = await memoryBroker(t, { cloudEvents: { source: 'urn:svc:orders' } });
  const byDefault = await deliveredAfter(broker, (q) => broker.send(q, { k: 1 }));
  t.same(byDefault.cloudEvent, {
    specversion: '1.0',
    id: byDefault.id,
    source: 'urn:svc:orders',
    type: byDefault.topic,
    time: byDefault.timestamp.toISOString(),
    datacontenttype: 'application/json',
  });
  const overridden = await deliveredAfter(broker, (q) =>
    broker.send(q, 'hi', { cloudEvent: { type: 'com.example.greeting', subject: 'ada' } }),
  );
  t.match(overridden.cloudEvent, {
    type: 'com.example.greeting',
    subject: 'ada',
    source: 'urn:svc:orders',
    datacontenttype: 'text/plain',
  });
  const plain = await deliveredAfter(broker, (q) => broker.send(q, 1, { cloudEvent: false }));
  t.equal(plain.cloudEvent, undefined, 'cloudEvent: false publishes a plain message');
  t.same(plain.headers, {});

  const without = await memoryBroker(t);
  const none = await deliveredAfter(without, (q) => without.send(q, 1));
  t.equal(none.cloudEvent, undefined, 'no CloudEvent unless asked for');
});

t.test(
  'reading: any binding’s spelling, percent-decoding, extensions; invalid events are ignored',
  async (t) => {
    t.same(
      readCloudEvent(
        {
          'Ce-Specversion': '1.0',
          'CE-ID': 'x1',
          'ce-source': '/s',
          'ce-type': 't',
          'ce-subject': 'Euro%20%E2%82%AC',
          'ce-tenant': 'acme',
          other: 'v',
        },
        undefined,
      ),
      {
        specversion: '1.0',
        id: 'x1',
        source: '/s',
        type: 't',
        subject: 'Euro €',
        extensions: { tenant: 'acme' },
      },
    );
    for (const separator of ['_', ':']) {
      t.same(
        readCloudEvent(
          {
            [`cloudEvents${separator}specversion`]: '1.0',
            [`cloudEvents${separator}id`]: 'x2',
            [`cloudEvents${separator}source`]: '/s',
            [`cloudEvents${separator}type`]: 't',
            [`cloudEvents${separator}time`]: '2026-01-01T00:00:00Z',
          },
          'application/json',
        ),
        {
          specversion: '1.0',
          id: 'x2',
          source: '/s',
          type: 't',
          time: '2026-01-01T00:00:00Z',
          datacontenttype: 'application/json',
        },
        `AMQP with the "${separator}" separator`,
      );
    }
    t.equal(
      readCloudEvent({ 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't' }, undefined),
      undefined,
      'no source',
    );
    t.equal(
      readCloudEvent({ 'ce-specversion': '0.3', 'ce-id': 'x', 'ce-source': '/s', 'ce-type': 't' }, undefined),
      undefined,
      'another spec version',
    );

    // A foreign event without a transport content type: the body is decoded by ce-datacontenttype.
    const deliver = createDispatcher({
      kind: 'consume',
      destination: 'jobs',
      group: undefined,
      handler: (m: Message) => void (seen = m),
      codec: defaultCodec,
      retry: resolveRetryPolicy(undefined),
      middleware: [],
      deadLetter: true,
      onDiscarded: () => {},
    });
    let seen: Message | undefined;
    await deliver({
      topic: 'jobs',
      body: Buffer.from('{"a":1}'),
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'x3',
        'ce-source': '/s',
        'ce-type': 't',
        'ce-datacontenttype': 'application/json',
      },
      contentType: undefined,
      id: undefined,
      timestamp: undefined,
      attempt: 1,
      redelivered: false,
    });
    t.same(seen?.data, { a: 1 }, 'decoded as the event’s datacontenttype');
    t.equal(seen?.contentType, 'application/json');
  },
);

t.test('interop with the cloudevents SDK: brokerkit → SDK and SDK → brokerkit', async (t) => {
  const broker = await memoryBroker(t);
  const data = { orderId: 'o-1', total: 42 };
  const ours = await deliveredAfter(broker, (q) =>
    broker.send(q, data, {
      cloudEvent: {
        type: 'com.example.order.created',
        source: '/orders',
        subject: 'o-1',
        dataschema: 'https://example.com/order.json',
        extensions: { tenant: 'acme' },
      },
    }),
  );
  const sdkMessage = asSdkMessage(ours);
  t.ok(HTTP.isEvent(sdkMessage), 'the SDK recognises the headers and body as a CloudEvent');
  const event = HTTP.toEvent(sdkMessage) as CloudEvent<typeof data>;
  t.equal(event.validate(), true, 'and validates it');
  t.match(event, {
    specversion: '1.0',
    id: ours.id,
    type: 'com.example.order.created',
    source: '/orders',
    subject: 'o-1',
    dataschema: 'https://example.com/order.json',
    datacontenttype: 'application/json',
    time: ours.timestamp.toISOString(),
    tenant: 'acme',
  });
  t.same(event.data, data, 'with the body as its data');

  const theirs = new CloudEvent({
    type: 'com.example.shipment.sent',
    source: 'https://example.com/shipping',
    subject: 'box-7',
    data: { box: 7 },
    carrier: 'dhl',
  });
  const binary = HTTP.binary(theirs);
  const headers: Headers = {};
  for (const [key, value] of Object.entries(binary.headers))
    if (key !== 'content-type') headers[key] = String(value);
  const received = await deliveredAfter(broker, (q) =>
    broker.send(q, JSON.parse(String(binary.body)), { headers }),
  );
  t.same(received.cloudEvent, {
    specversion: '1.0',
    id: theirs.id,
    source: 'https://example.com/shipping',
    type: 'com.example.shipment.sent',
    time: theirs.time,
    subject: 'box-7',
    datacontenttype: 'application/json',
    extensions: { carrier: 'dhl' },
  });
  t.same(received.data, { box: 7 });
});
