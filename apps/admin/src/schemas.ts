/**
 * Request and response schemas of the admin API (TypeBox, so they are JSON Schema for Fastify's
 * validator, the serializer and OpenAPI alike). Every object schema is closed
 * (`additionalProperties: false`): unknown fields in a request are a 400, never ignored.
 */
import { Type } from 'typebox';

/**
 * A logical queue, group or dead-letter queue name: `.`-separated tokens of `[A-Za-z0-9_-]`, not
 * starting with `_` (reserved for brokerkit and NATS internals). 124 bytes = the 120 allowed for
 * a queue plus `.dlq`.
 */
export const QueueName = Type.String({
  pattern: '^(?!_)[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
  minLength: 1,
  maxLength: 124,
  description: 'Logical queue, group or dead-letter queue name, e.g. `orders` or `orders.dlq`.',
});

/** Path parameters of `/api/queues/:name...`. */
export const QueueParams = Type.Object({ name: QueueName }, { additionalProperties: false });

/** One queue's numbers, as the inspector reports them. */
export const QueueInfoSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.Union([Type.Literal('group'), Type.Literal('queue'), Type.Literal('dlq')]),
    depth: Type.Integer({ description: 'Messages ready for delivery.' }),
    inFlight: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Delivered but unacked plus waiting for a retry delay; null where the broker cannot tell.',
    }),
    consumers: Type.Integer(),
  },
  { additionalProperties: false },
);

/** `GET /api/queues`. */
export const QueueList = Type.Object(
  {
    broker: Type.String({ description: 'Adapter name: memory, rabbitmq or nats.' }),
    status: Type.String({ description: 'Broker connection status.' }),
    queues: Type.Array(QueueInfoSchema),
  },
  { additionalProperties: false },
);

/**
 * Bounds of a dead-letter `limit`, the same as core's inspector enforces (integers 1..1000), so a
 * bad limit is a 400 naming the field before the broker is asked. No `default` here: an absent
 * limit reaches core as absent, and core applies its own default.
 */
const DeadLetterLimit = (description: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description }));

/** `?limit=` of the dead-letter peek. */
export const PeekQuery = Type.Object(
  { limit: DeadLetterLimit('Return at most this many. Default: 10.') },
  { additionalProperties: false },
);

/** A dead letter as the API shows it: the body as base64, plus the decoded data where possible. */
export const DeadLetterSchema = Type.Object(
  {
    id: Type.String(),
    topic: Type.String(),
    origin: Type.String({ description: 'The queue or group it failed in.' }),
    error: Type.String({ description: 'Error of the last attempt.' }),
    attempts: Type.Integer(),
    failedAt: Type.String({ format: 'date-time' }),
    timestamp: Type.String({ format: 'date-time', description: 'When it was first published.' }),
    contentType: Type.String(),
    headers: Type.Record(Type.String(), Type.String()),
    body: Type.String({ contentEncoding: 'base64' }),
    data: Type.Optional(Type.Unknown({ description: 'Decoded payload (absent when undecodable).' })),
  },
  { additionalProperties: false },
);

/** `GET /api/queues/:name/dead-letters`. */
export const DeadLetterList = Type.Object(
  { queue: Type.String(), deadLetters: Type.Array(DeadLetterSchema) },
  { additionalProperties: false },
);

/** Body of `POST /api/queues/:name/dead-letters/replay` (optional as a whole). */
export const ReplayBody = Type.Object(
  { limit: DeadLetterLimit('Replay at most this many. Default: all of them.') },
  { additionalProperties: false },
);

/** Body of purge and delete: none, or an empty object. */
export const EmptyBody = Type.Object({}, { additionalProperties: false });

/** Result of replay. */
export const ReplayResult = Type.Object(
  { queue: Type.String(), replayed: Type.Integer() },
  { additionalProperties: false },
);

/** Result of purge. */
export const PurgeResult = Type.Object(
  { queue: Type.String(), purged: Type.Integer() },
  { additionalProperties: false },
);

const Count = Type.Union([Type.Integer(), Type.Null()]);

/** One point of the status page's charts. */
export const StatusPointSchema = Type.Object(
  {
    t: Type.Integer({ description: 'Unix time, ms.' }),
    published: Type.Union([Type.Number(), Type.Null()], {
      description:
        'Published (sent) per second since the previous point; null on the first point, after a reset, or for a group.',
    }),
    consumed: Type.Union([Type.Number(), Type.Null()], { description: 'Acked deliveries per second.' }),
    failed: Type.Union([Type.Number(), Type.Null()], {
      description: 'Retried, dead-lettered or discarded deliveries per second.',
    }),
    depth: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Ready messages; null where the queues were not inspected.',
    }),
    inFlight: Count,
    deadLetters: Count,
  },
  { additionalProperties: false },
);

/** `GET /api/history`: the whole broker over the last minutes, and the latest rates. */
export const HistorySchema = Type.Object(
  {
    broker: Type.String(),
    status: Type.String(),
    sampleMs: Type.Integer({ description: 'Time between points, ms.' }),
    inspectError: Type.Optional(Type.String()),
    points: Type.Array(StatusPointSchema),
    destinations: Type.Record(Type.String(), Type.Number(), {
      description: 'Published per second by destination (topic or queue), since the previous point.',
    }),
    consumers: Type.Record(
      Type.String(),
      Type.Object({ consumed: Type.Number(), failed: Type.Number() }, { additionalProperties: false }),
      { description: 'Consumed and failed per second by group or work queue, since the previous point.' },
    ),
  },
  { additionalProperties: false },
);

/** `GET /api/queues/:name/history`. */
export const QueueHistorySchema = Type.Object(
  {
    queue: Type.String(),
    sampleMs: Type.Integer(),
    inspectError: Type.Optional(Type.String()),
    points: Type.Array(StatusPointSchema),
  },
  { additionalProperties: false },
);

/** `GET /healthz` and `GET /readyz`. */
export const HealthSchema = Type.Object(
  { status: Type.String(), broker: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

/** RFC 9457 problem details, with brokerkit's error code. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code, e.g. BK_VALIDATION or BK_NOT_FOUND.' }),
    instance: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** Problem responses every route may give. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, ProblemSchema])) as Record<
    number,
    typeof ProblemSchema
  >;
