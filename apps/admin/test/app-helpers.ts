/** Building the admin for a test, and reading its answers. */
import { Writable } from 'node:stream';
import type { Broker } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import type { Registry } from '@brokerkit/metrics';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/index.js';
import type { TapTest } from './targets.js';
import type { AdminConfig } from '../src/index.js';

/** The token the tests configure. */
export const TOKEN = 'test-token-0123456789abcdef';
/** Authorization header with {@link TOKEN}. */
export const AUTH = { authorization: `Bearer ${TOKEN}` };

const registries = new WeakMap<Broker, Registry>();

/**
 * The registry of `broker`'s metrics middleware, added on first use as `server.ts` does. Admins
 * built over the same broker share it: one middleware per broker, as in production.
 */
export function registryOf(broker: Broker): Registry {
  let registry = registries.get(broker);
  if (!registry) {
    const middleware = metrics();
    broker.use(middleware);
    registry = middleware.registry;
    registries.set(broker, registry);
  }
  return registry;
}

/**
 * Build the admin over `broker` (closed on teardown), serving {@link registryOf}; logs are
 * collected in `logs`.
 */
export async function adminFor(
  t: TapTest,
  broker: Broker,
  config: Partial<AdminConfig> = {},
): Promise<{ app: FastifyInstance; logs: string[] }> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  // Tests that send dozens of requests (or wrong tokens) on purpose get limits they cannot reach;
  // the rate-limit tests pass their own.
  const rateLimit = { max: 10_000, timeWindowMs: 60_000 };
  const authFailureLimit = { max: 10_000, timeWindowMs: 60_000 };
  const app = await buildApp({
    broker,
    registry: registryOf(broker),
    config: { token: TOKEN, logLevel: 'info', rateLimit, authFailureLimit, ...config },
    logStream,
  });
  t.teardown(() => app.close());
  await app.ready();
  return { app, logs };
}

/** The JSON body of a response, asserting it parses. */
export function json<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

/** Assert `response` is a problem+json with `status` and `code`; returns the body. */
export function assertProblem(
  t: TapTest,
  response: LightMyRequestResponse,
  status: number,
  code: string,
): Record<string, unknown> {
  t.equal(response.statusCode, status, `status ${status} (${response.body})`);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  const body = json(response);
  t.match(body, { status, code, type: `urn:brokerkit:error:${code}`, title: String, detail: String });
  return body;
}
