/**
 * Translate nats.js errors into brokerkit's typed errors, by `instanceof` on nats.js' own classes
 * (and on the adapter's PubAck errors, `pub-acks.ts`), never by name: nats.js' names are not a
 * contract (its `NoRespondersError` is named "NoResponders"). The classes come from the client
 * the adapter connects with (`@nats-io/transport-node` re-exports `@nats-io/nats-core`), which
 * needs one copy of `@nats-io/nats-core` in the process: `package.json` pins the `@nats-io/*`
 * packages to one minor, and `test/nats-internals.test.ts` checks there is only one.
 * `test/errors.test.ts` checks every function against errors the real client and server produce.
 */
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  InvalidArgumentError,
  NoRespondersError,
  ProtocolError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import {
  BrokerError,
  BrokerUnavailableError,
  ClosedError,
  ConfigurationError,
  NotFoundError,
  PayloadTooLargeError,
  isBrokerkitError,
  toError,
} from '@brokerkit/core/adapter';
import { jetStreamErrors } from './nats-internals.js';
import { PubAckApiError, PubAckNoRespondersError, PubAckTimeoutError } from './pub-acks.js';

/** JetStream API error codes the adapter reacts to. */
export const API_CODE = Object.freeze({
  consumerNotFound: 10014,
  streamNotFound: 10059,
  /** "stream name already in use with a different configuration" */
  streamNameInUse: 10058,
  /** "subjects overlap with an existing stream" */
  subjectsOverlap: 10065,
  /** "consumer name already in use" / "consumer already exists" */
  consumerExists: 10148,
  consumerNameExists: 10013,
});

/** How deep {@link causes} follows `cause` (nats.js nests at most three: JetStreamNotEnabled → RequestError → NoResponders). */
const MAX_CAUSE_DEPTH = 4;

/** `error` and its causes, outermost first. */
function* causes(error: unknown): Generator<unknown> {
  let e = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && e instanceof Error; depth++) {
    yield e;
    if (e.cause === e) return;
    e = e.cause;
  }
}

/** The JetStream API error code of `error`, if it is one. */
export function apiCode(error: unknown): number | undefined {
  if (error instanceof JetStreamApiError || error instanceof PubAckApiError) return error.code;
  return undefined;
}

/** A stream or consumer that does not exist. */
export function isNotFound(error: unknown): boolean {
  if (error instanceof jetStreamErrors.StreamNotFoundError) return true;
  if (error instanceof jetStreamErrors.ConsumerNotFoundError) return true;
  const code = apiCode(error);
  return code === API_CODE.streamNotFound || code === API_CODE.consumerNotFound;
}

/** The client refused a message over the server's `max_payload`. */
export function isPayloadTooLarge(error: unknown): boolean {
  return error instanceof InvalidArgumentError && error.message.includes('max_payload');
}

/** The connection is closed for good (by us), or draining towards it. */
export function isClosedConnection(error: unknown): boolean {
  return error instanceof ClosedConnectionError || error instanceof DrainingConnectionError;
}

/** No responders: the subject has no stream (any more), or JetStream is not up yet. */
export function isNoResponders(error: unknown): boolean {
  for (const e of causes(error)) {
    if (e instanceof NoRespondersError || e instanceof PubAckNoRespondersError) return true;
    // What a JetStream API request gets when nothing answers (e.g. the server is still starting).
    if (e instanceof jetStreamErrors.JetStreamNotEnabled) return true;
  }
  return false;
}

/** No answer (yet): a lost request during an outage, JetStream still starting, a missing stream. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof PubAckTimeoutError) return true;
  // Every failed request: no responders, "connection disconnected", a server error on the way.
  if (error instanceof RequestError) return true;
  if (error instanceof ConnectionError || error instanceof ProtocolError) return true;
  if (isNoResponders(error)) return true;
  // A JetStream status answer: 503 no responders / not ready, 408 request timeout.
  if (error instanceof JetStreamError) {
    const code = (error as { code?: unknown }).code;
    return code === 503 || code === 408;
  }
  return false;
}

/** Map a client error from a management call (stream/consumer info, add, purge, …). */
export function mapManagementError(error: unknown, what: string): Error {
  if (isBrokerkitError(error)) return error as Error;
  if (isClosedConnection(error)) return new ClosedError('the NATS connection is closed', { cause: error });
  if (isNotFound(error)) return new NotFoundError(`${what} does not exist`, { cause: error });
  const code = apiCode(error);
  if (code === API_CODE.streamNameInUse || code === API_CODE.subjectsOverlap) {
    return new ConfigurationError(`${what}: ${(error as Error).message}`, { cause: error });
  }
  if (isTransient(error)) return new BrokerUnavailableError(`${what}: NATS did not answer`, { cause: error });
  return new BrokerError(`${what}: ${toError(error).message}`, { cause: error });
}

/** Map a client error from publish / send. */
export function mapPublishError(error: unknown, subject: string): Error {
  if (isBrokerkitError(error)) return error as Error;
  if (isPayloadTooLarge(error)) {
    return new PayloadTooLargeError(`message to ${subject} exceeds the server's max_payload`, {
      cause: error,
    });
  }
  return mapManagementError(error, `publish to ${subject}`);
}
