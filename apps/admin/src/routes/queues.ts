/**
 * The queue routes of docs/architecture.md#metrics-and-admin over the broker's {@link QueueInspector}: list, detail, delete,
 * purge, dead-letter peek and replay. Mutating routes require the bearer token and are rate
 * limited; names are validated by the schema before anything reaches the broker.
 */
import { Buffer } from 'node:buffer';
import { UnsupportedError } from '@brokerkit/core';
import type { Broker, DeadLetter, QueueInspector } from '@brokerkit/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import { AuthFailures } from '../auth-failures.js';
import { requireToken } from '../auth.js';
import type { DeadLetterSchema } from '../schemas.js';
import {
  DeadLetterList,
  EmptyBody,
  PeekQuery,
  PurgeResult,
  QueueInfoSchema,
  QueueList,
  QueueParams,
  ReplayBody,
  ReplayResult,
  problems,
} from '../schemas.js';

/** Options of {@link queueRoutes}. */
export interface QueueRoutesOptions {
  broker: Broker;
  /** Bearer token of the mutating routes; undefined = they answer 403. */
  token: string | undefined;
  /** Authorised mutating requests per client and window. */
  rateLimit: { max: number; timeWindowMs: number };
  /** Failed authorisations per client and window, counted apart from `rateLimit`. */
  authFailureLimit: { max: number; timeWindowMs: number };
}

function inspectorOf(broker: Broker): QueueInspector {
  const inspector = broker.inspector;
  if (!inspector)
    throw new UnsupportedError(`the ${broker.adapter} adapter does not support queue inspection`);
  return inspector;
}

function isoDate(date: Date): string {
  return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
}

function deadLetterView(letter: DeadLetter): Static<typeof DeadLetterSchema> {
  const view: Static<typeof DeadLetterSchema> = {
    id: letter.id,
    topic: letter.topic,
    origin: letter.origin,
    error: letter.error,
    attempts: letter.attempts,
    failedAt: isoDate(letter.failedAt),
    timestamp: isoDate(letter.timestamp),
    contentType: letter.contentType,
    headers: { ...letter.headers },
    body: Buffer.from(letter.body.buffer, letter.body.byteOffset, letter.body.byteLength).toString('base64'),
  };
  // Undecodable payloads come back as the raw bytes: `body` already carries them.
  if (!(letter.data instanceof Uint8Array)) view.data = letter.data;
  return view;
}

/** Registers the `/api/queues` routes. */
export const queueRoutes: FastifyPluginAsyncTypebox<QueueRoutesOptions> = async (app, options) => {
  const { broker } = options;
  const failures = new AuthFailures(options.authFailureLimit.max, options.authFailureLimit.timeWindowMs);
  const authorise = requireToken(options.token, failures);
  // The token is checked first and failures have their own per-client limit (auth.ts): a wrong
  // token never uses up the right one's requests. Only authorised calls reach this limiter.
  const limit = app.rateLimit({ max: options.rateLimit.max, timeWindow: options.rateLimit.timeWindowMs });
  const mutating = {
    onRequest: [authorise, limit],
    // The body is optional: an absent one validates as `{}` (a present one must match the schema).
    preValidation: async (request: { body: unknown }) => {
      request.body ??= {};
    },
  };
  const security = [{ bearer: [] }];

  app.get(
    '/api/queues',
    {
      schema: {
        summary: 'List queues, groups and dead-letter queues with depth, in-flight and consumers',
        tags: ['queues'],
        response: { 200: QueueList, ...problems(501, 502, 503, 504) },
      },
    },
    async () => ({
      broker: broker.adapter,
      status: broker.status,
      queues: await inspectorOf(broker).listQueues(),
    }),
  );

  app.get(
    '/api/queues/:name',
    {
      schema: {
        summary: 'One queue, group or dead-letter queue',
        tags: ['queues'],
        params: QueueParams,
        response: { 200: QueueInfoSchema, ...problems(400, 404, 501, 502, 503, 504) },
      },
    },
    async (request) => inspectorOf(broker).queueInfo(request.params.name),
  );

  app.delete(
    '/api/queues/:name',
    {
      ...mutating,
      schema: {
        summary: 'Delete a queue or group with its retry and dead-letter companions',
        tags: ['queues'],
        security,
        params: QueueParams,
        body: EmptyBody,
        response: {
          204: { type: 'null', description: 'Deleted' },
          ...problems(400, 401, 403, 404, 429, 501, 502, 503, 504),
        },
      },
    },
    async (request, reply) => {
      await inspectorOf(broker).deleteQueue(request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/queues/:name/purge',
    {
      ...mutating,
      schema: {
        summary: 'Remove every ready message',
        tags: ['queues'],
        security,
        params: QueueParams,
        body: EmptyBody,
        response: { 200: PurgeResult, ...problems(400, 401, 403, 404, 429, 501, 502, 503, 504) },
      },
    },
    async (request) => {
      const { name } = request.params;
      return { queue: name, purged: await inspectorOf(broker).purge(name) };
    },
  );

  app.get(
    '/api/queues/:name/dead-letters',
    {
      schema: {
        summary: 'Read dead letters of a queue or group without consuming them',
        tags: ['dead letters'],
        params: QueueParams,
        querystring: PeekQuery,
        response: { 200: DeadLetterList, ...problems(400, 404, 501, 502, 503, 504) },
      },
    },
    async (request) => {
      const { name } = request.params;
      // Absent stays absent: the default (10) and the bounds are core's, the same for every caller.
      const letters = await inspectorOf(broker).peekDeadLetters(name, request.query.limit);
      return { queue: name, deadLetters: letters.map(deadLetterView) };
    },
  );

  app.post(
    '/api/queues/:name/dead-letters/replay',
    {
      ...mutating,
      schema: {
        summary: 'Move dead letters back to their origin queue or group, each once',
        tags: ['dead letters'],
        security,
        params: QueueParams,
        body: ReplayBody,
        response: { 200: ReplayResult, ...problems(400, 401, 403, 404, 413, 429, 501, 502, 503, 504) },
      },
    },
    async (request) => {
      const { name } = request.params;
      // As with peek, core decides what no limit means (all of them, up to its maximum).
      const replayed = await inspectorOf(broker).replayDeadLetters(name, { limit: request.body.limit });
      return { queue: name, replayed };
    },
  );
};
