/**
 * @brokerkit/rabbitmq — the RabbitMQ adapter (amqplib), selected by `amqp://` and `amqps://`
 * URLs: `connect('amqp://guest:guest@localhost:5672', { rabbitmq: { managementUrl } })`.
 * Apps never import this package; `connect` from `@brokerkit/core` loads it by URL scheme.
 *
 * @packageDocumentation
 */
import type { AdapterFactory } from '@brokerkit/core';
import { createRabbitMqTransport } from './transport.js';

export type { RabbitMqOptions } from './options.js';

/** The adapter factory `connect` looks up for `amqp://` and `amqps://` URLs. */
export const createTransport: AdapterFactory = (settings, hooks) => createRabbitMqTransport(settings, hooks);
