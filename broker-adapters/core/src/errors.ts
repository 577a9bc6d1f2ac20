/**
 * Typed errors. Callers branch on `code` (stable) or `instanceof`, never on message text; the
 * broker client's own error travels as `cause`.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'BK_VALIDATION'
  | 'BK_CONFIG'
  | 'BK_UNAVAILABLE'
  | 'BK_TIMEOUT'
  | 'BK_CLOSED'
  | 'BK_PAYLOAD_TOO_LARGE'
  | 'BK_DECODE'
  | 'BK_NOT_FOUND'
  | 'BK_PERMANENT'
  | 'BK_UNSUPPORTED'
  | 'BK_BROKER'
  | 'BK_DISCARDED'
  | 'BK_REMOTE'
  | 'BK_NO_RESPONDERS';

/** Base class of every brokerkit error. */
export class BrokerkitError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A name, pattern, URL or option value is invalid. Nothing reached the broker. */
export class ValidationError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_VALIDATION', message, options);
  }
}

/** The broker's configuration conflicts with the request (e.g. a group re-bound to another pattern). */
export class ConfigurationError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_CONFIG', message, options);
  }
}

/** The broker could not be reached in time (connect failed, or an outage outlasted the timeout). */
export class BrokerUnavailableError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_UNAVAILABLE', message, options);
  }
}

/** The broker did not answer in time while connected. */
export class TimeoutError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_TIMEOUT', message, options);
  }
}

/** The broker or subscription was closed. */
export class ClosedError extends BrokerkitError {
  constructor(message = 'the broker is closed', options?: { cause?: unknown }) {
    super('BK_CLOSED', message, options);
  }
}

/** The encoded message is larger than the broker accepts. Nothing was sent. */
export class PayloadTooLargeError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_PAYLOAD_TOO_LARGE', message, options);
  }
}

/** A payload could not be encoded or a received body could not be decoded. */
export class DecodeError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_DECODE', message, options);
  }
}

/** A queue, group or dead-letter queue does not exist. */
export class NotFoundError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_NOT_FOUND', message, options);
  }
}

/** The adapter does not support a capability (e.g. queue inspection). */
export class UnsupportedError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_UNSUPPORTED', message, options);
  }
}

/** The broker refused an operation for a reason no other class describes. */
export class BrokerError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_BROKER', message, options);
  }
}

/**
 * Throw from a handler when retrying cannot help (bad data, a business rule): the message goes
 * straight to the dead-letter queue without further attempts.
 */
export class PermanentError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_PERMANENT', message, options);
  }
}

/**
 * A message of an ephemeral subscription ran out of attempts and was dropped (ephemeral
 * subscriptions have no dead-letter queue). Reported through the broker's `error` event.
 */
export class DiscardedError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_DISCARDED', message, options);
  }
}

/**
 * A responder's handler threw: its message, and its `code` as `remoteCode`, travelled back with
 * the reply. Never its stack: only the text crosses the broker, and this error's own stack is the
 * requester's.
 */
export class RemoteError extends BrokerkitError {
  /** The `code` of the error the responder threw (e.g. `BK_PERMANENT` or an application code). */
  readonly remoteCode: string | undefined;
  /** The class name of the error the responder threw (e.g. `TypeError`). */
  readonly remoteName: string | undefined;

  constructor(message: string, remote: { code?: string; name?: string } = {}, options?: { cause?: unknown }) {
    super('BK_REMOTE', message, options);
    this.remoteCode = remote.code;
    this.remoteName = remote.name;
  }
}

/** Nobody responds on the request's topic, and the broker said so at once (NATS, RabbitMQ, memory). */
export class NoRespondersError extends BrokerkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BK_NO_RESPONDERS', message, options);
  }
}

/** True when `error` is a brokerkit error, optionally with the given code. */
export function isBrokerkitError(error: unknown, code?: ErrorCode): error is BrokerkitError {
  // Duck-typed as well as instanceof: two copies of core in one process must still agree.
  if (error === null || typeof error !== 'object') return false;
  const c = (error as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('BK_')) return false;
  return code === undefined || c === code;
}

/** Normalise anything thrown into an Error. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `non-error thrown: ${String(thrown)}`);
}

/**
 * A URL with its secret replaced, safe for messages and logs: the password, or the username when
 * there is no password (NATS token auth puts the token there: `nats://<token>@host`).
 */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    if (u.password) u.password = '***';
    else if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
