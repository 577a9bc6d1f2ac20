/**
 * amqplib errors → brokerkit's typed errors. amqplib puts the AMQP reply code on `code`
 * (404 NOT_FOUND, 406 PRECONDITION_FAILED, …); the original error always travels as `cause`.
 */
import {
  BrokerError,
  BrokerUnavailableError,
  ConfigurationError,
  NotFoundError,
  PayloadTooLargeError,
  isBrokerkitError,
  toError,
} from '@brokerkit/core/adapter';
import type { BrokerkitError } from '@brokerkit/core';

/** AMQP reply codes brokerkit tells apart. */
export const AMQP = Object.freeze({
  CONNECTION_FORCED: 320,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  NOT_ALLOWED: 530,
});

/** The AMQP reply code of an amqplib error, if it has one. */
export function replyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True when the broker closed a channel or connection because something does not exist. */
export function isNotFound(error: unknown): boolean {
  return replyCode(error) === AMQP.NOT_FOUND;
}

/** Server text without the amqplib prefix ("Operation failed: QueueDeclare; 406 (...) with message"). */
function serverText(error: Error): string {
  const m = /with message "([^"]*)"/.exec(error.message);
  return m ? m[1]! : error.message;
}

/**
 * Map an amqplib error raised while doing `what` (e.g. `declaring group "g"`) to a brokerkit
 * error. Brokerkit errors pass through unchanged.
 */
export function mapAmqpError(thrown: unknown, what: string): BrokerkitError {
  if (isBrokerkitError(thrown)) return thrown;
  const error = toError(thrown);
  const text = serverText(error);
  switch (replyCode(error)) {
    case AMQP.NOT_FOUND:
      return new NotFoundError(`${what}: ${text}`, { cause: error });
    case AMQP.PRECONDITION_FAILED:
      if (/max size|message_size|too large/i.test(text)) {
        return new PayloadTooLargeError(`${what}: ${text}`, { cause: error });
      }
      return new ConfigurationError(`${what}: ${text}`, { cause: error });
    case AMQP.ACCESS_REFUSED:
    case AMQP.RESOURCE_LOCKED:
    case AMQP.NOT_ALLOWED:
      return new ConfigurationError(`${what}: ${text}`, { cause: error });
    case AMQP.CONNECTION_FORCED:
      return new BrokerUnavailableError(`${what}: ${text}`, { cause: error });
    default:
      if (/closed|ECONNRESET|ECONNREFUSED|EPIPE|socket/i.test(error.message)) {
        return new BrokerUnavailableError(`${what}: ${text}`, { cause: error });
      }
      return new BrokerError(`${what}: ${text}`, { cause: error });
  }
}
