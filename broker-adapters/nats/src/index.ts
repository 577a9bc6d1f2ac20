/**
 * @brokerkit/nats — the NATS JetStream adapter, loaded by `connect('nats://…')`. Applications
 * never import it directly; they pass NATS options under the `nats` key of `connect` options.
 *
 * @packageDocumentation
 */
export { createTransport } from './transport.js';
export type { NatsOptions } from './options.js';
