/**
 * @brokerkit/core — one publish / subscribe / work-queue API over RabbitMQ, NATS and an
 * embedded broker. Start with {@link connect}. This entry is the user API; adapter packages use
 * `@brokerkit/core/adapter`.
 *
 * @packageDocumentation
 */
export type * from './types.js';
export { connect, registerAdapter, registeredSchemes, defaultBrokerUrl } from './connect.js';
export {
  BrokerkitError,
  ValidationError,
  ConfigurationError,
  BrokerUnavailableError,
  TimeoutError,
  ClosedError,
  PayloadTooLargeError,
  DecodeError,
  NotFoundError,
  UnsupportedError,
  BrokerError,
  PermanentError,
  DiscardedError,
  RemoteError,
  NoRespondersError,
  isBrokerkitError,
  redactUrl,
  type ErrorCode,
} from './errors.js';
export { defaultCodec } from './codec.js';
export { validateTopic, validateQueueName, validateGroupName, validatePattern } from './names.js';
export { RESERVED_HEADER_PREFIX } from './headers.js';
