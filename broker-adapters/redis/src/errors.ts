/**
 * ioredis errors as brokerkit errors. Redis answers errors as text starting with a code word
 * (`NOGROUP`, `NOSCRIPT`, `OOM`, `NOPERM`, …), which ioredis passes on as a `ReplyError`;
 * connection failures are plain `Error`s from ioredis itself. The client's error stays the
 * `cause`; messages never contain credentials.
 */
import {
  BrokerError,
  BrokerUnavailableError,
  ConfigurationError,
  isBrokerkitError,
} from '@brokerkit/core/adapter';
import type { BrokerkitError } from '@brokerkit/core';
import { ReplyError } from 'ioredis';

/** The code word of a Redis error reply (`NOGROUP`, `OOM`, …), or undefined. */
export function replyCode(error: unknown): string | undefined {
  if (!(error instanceof ReplyError)) return undefined;
  const match = /^([A-Z][A-Z_-]*)\b/.exec((error as Error).message);
  return match?.[1];
}

/**
 * The stream or consumer group does not exist (deleted, or lost in a restart without
 * persistence); `UNBLOCKED` is how a blocked `XREADGROUP` learns that its stream was deleted.
 */
export function isNoGroup(error: unknown): boolean {
  const code = replyCode(error);
  return code === 'NOGROUP' || code === 'UNBLOCKED';
}

/** The script cache does not have the script (a restarted server): run it with EVAL. */
export function isNoScript(error: unknown): boolean {
  return replyCode(error) === 'NOSCRIPT';
}

/**
 * A failure of the connection rather than a refusal by Redis: the command may or may not have
 * run (ioredis: "Connection is closed.", a command aborted by a close, socket errors).
 */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof ReplyError) return false;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_)/.test(code))
    return true;
  return (
    error.name === 'AbortError' ||
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|connect ETIMEDOUT/.test(error.message)
  );
}

/** Map an error of a command run for `what` (e.g. `publish to orders.created`). */
export function mapRedisError(error: unknown, what: string): BrokerkitError {
  if (isBrokerkitError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error))
    return new BrokerUnavailableError(`${what}: Redis is unreachable (${message})`, { cause: error });
  const code = replyCode(error);
  if (code === 'NOPERM' || code === 'NOAUTH' || code === 'WRONGPASS')
    return new ConfigurationError(`${what}: refused by Redis (${message})`, { cause: error });
  if (code === 'WRONGTYPE')
    return new ConfigurationError(`${what}: a key brokerkit uses holds another type (${message})`, {
      cause: error,
    });
  return new BrokerError(`${what}: ${message}`, { cause: error });
}
