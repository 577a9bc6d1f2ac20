/**
 * @brokerkit/redis — the Redis Streams adapter, loaded by `connect('redis://…')` (or `rediss://`
 * for TLS). Applications never import it directly; they pass Redis options under the `redis` key
 * of `connect` options.
 *
 * @packageDocumentation
 */
export { createTransport } from './transport.js';
export type { RedisOptions } from './options.js';
