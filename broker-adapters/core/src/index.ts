/**
 * @brokerkit/core — one publish / subscribe / work-queue API over RabbitMQ, NATS and an
 * embedded broker. Start with {@link connect}.
 *
 * @packageDocumentation
 */
export type * from './types.js';
export { connect, registerAdapter, registeredSchemes, defaultBrokerUrl, parseBrokerUrl } from './connect.js';
export { createBroker } from './broker.js';
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
  isBrokerkitError,
  toError,
  redactUrl,
  type ErrorCode,
} from './errors.js';
export { defaultCodec, encode, decode, JSON_TYPE, TEXT_TYPE, BYTES_TYPE } from './codec.js';
export {
  validateTopic,
  validateQueueName,
  validateGroupName,
  validatePattern,
  compilePattern,
  matchPattern,
  hasWildcard,
  firstToken,
  MAX_TOPIC_BYTES,
  MAX_QUEUE_BYTES,
  type TopicMatcher,
} from './names.js';
export { DEFAULT_RETRY, resolveRetryPolicy, nominalDelay, retryDelay, reconnectDelay } from './retry.js';
export { newMessageId } from './ids.js';
export { HEADER, RESERVED_HEADER_PREFIX, deadLetterHeaders, userHeaders } from './headers.js';
export { toDeadLetter, replayHeaders, type StoredDeadLetter } from './dead-letters.js';
export { createDispatcher, type DispatcherOptions } from './delivery.js';
export { InFlightTracker, withTimeout, deferred, type Deferred } from './support.js';
