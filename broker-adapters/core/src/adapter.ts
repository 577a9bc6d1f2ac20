/**
 * `@brokerkit/core/adapter` — what adapter packages need beyond the user API: the broker
 * factory, option resolution, the dispatcher and dispatch loop, name and header helpers, retry
 * maths. Applications never need this entry point (like nats.js keeps `internal_mod` apart);
 * everything of `@brokerkit/core` is re-exported so an adapter imports from one place.
 *
 * How the pieces fit: docs/architecture.md.
 *
 * @packageDocumentation
 */
export * from './index.js';
export { createBroker } from './broker.js';
export { parseBrokerUrls, parseBrokerUrl, adapterFactoryFor, connectWith } from './connect.js';
export {
  resolveBrokerSettings,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_PUBLISHES,
  DEFAULT_RECONNECT,
} from './settings.js';
export { assertKnownKeys, integerOption } from './option-checks.js';
export { toError } from './errors.js';
export { encode, decode, JSON_TYPE, TEXT_TYPE, BYTES_TYPE } from './codec.js';
export {
  compilePattern,
  matchPattern,
  hasWildcard,
  firstToken,
  MAX_TOPIC_BYTES,
  MAX_QUEUE_BYTES,
  DEAD_LETTER_SUFFIX,
  deadLetterQueueName,
  deadLetterOrigin,
  type TopicMatcher,
} from './names.js';
export { DEFAULT_RETRY, resolveRetryPolicy, nominalDelay, retryDelay, reconnectDelay } from './retry.js';
export { newMessageId, messageIdTime, idCarriesTime } from './ids.js';
export { HEADER, deadLetterHeaders, userHeaders } from './headers.js';
export { toDeadLetter, replayHeaders, type StoredDeadLetter } from './dead-letters.js';
export { createDispatcher, type DispatcherOptions } from './delivery.js';
export { DeliveryLoop, type DeliveryLoopOptions } from './delivery-loop.js';
export { errorReply, ERROR_REPLY } from './request-reply.js';
export { strictInspector, DEFAULT_PEEK_LIMIT, MAX_PEEK_LIMIT } from './inspector.js';
export { InFlightTracker, withTimeout, deferred, type Deferred } from './support.js';
export { privateCopy } from './private-bytes.js';
