/**
 * Translate nats.js errors into brokerkit's typed errors. Checks go by error name and API code,
 * not `instanceof`, so two copies of the client in one process still agree.
 */
import {
  BrokerError,
  BrokerUnavailableError,
  ClosedError,
  ConfigurationError,
  NotFoundError,
  PayloadTooLargeError,
  isBrokerkitError,
  toError,
} from '@brokerkit/core';

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

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

/** The JetStream API error code of `error`, if it is one. */
export function apiCode(error: unknown): number | undefined {
  if (nameOf(error) !== 'JetStreamApiError' && !(error instanceof Error && 'apiError' in error))
    return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** A stream or consumer that does not exist. */
export function isNotFound(error: unknown): boolean {
  const code = apiCode(error);
  if (code === API_CODE.streamNotFound || code === API_CODE.consumerNotFound) return true;
  const n = nameOf(error);
  return n === 'StreamNotFoundError' || n === 'ConsumerNotFoundError';
}

/** The client refused a message over the server's `max_payload`. */
export function isPayloadTooLarge(error: unknown): boolean {
  return nameOf(error) === 'InvalidArgumentError' && /max_payload/.test((error as Error).message);
}

/** The connection is closed for good (by us). */
export function isClosedConnection(error: unknown): boolean {
  const n = nameOf(error);
  return n === 'ClosedConnectionError' || n === 'DrainingConnectionError';
}

/** No answer (yet): a lost request during an outage, JetStream still starting, a missing stream. */
export function isTransient(error: unknown): boolean {
  const n = nameOf(error);
  if (n === 'TimeoutError' || n === 'NoRespondersError' || n === 'JetStreamNotEnabled') return true;
  if (n === 'RequestError') return true;
  if (n === 'ConnectionError' || n === 'ProtocolError') return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 503 || code === 408;
}

/** No responders: the subject has no stream (any more), or JetStream is not up yet. */
export function isNoResponders(error: unknown): boolean {
  const n = nameOf(error);
  if (n === 'NoRespondersError' || n === 'JetStreamNotEnabled') return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && nameOf(cause) === 'NoRespondersError';
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
