/**
 * brokerkit's own message headers, and the helpers that add or strip them. Adapters use these so
 * dead letters look the same on every broker.
 */
import { ValidationError } from './errors.js';
import type { Headers } from './types.js';

/** Header names brokerkit sets. User headers must not start with {@link RESERVED_HEADER_PREFIX}. */
export const HEADER = Object.freeze({
  /** 1-based attempt number of a redelivered message (where the broker does not count). */
  attempt: 'x-brokerkit-attempt',
  /** Error message of the last failed attempt. */
  error: 'x-brokerkit-error',
  /** ISO-8601 time the message was dead-lettered. */
  failedAt: 'x-brokerkit-failed-at',
  /** The queue or group the message was dead-lettered from. */
  origin: 'x-brokerkit-origin',
  /** Attempts made before dead-lettering. */
  attempts: 'x-brokerkit-attempts',
  /** The topic a group message was published to (kept so replay restores `Message.topic`). */
  topic: 'x-brokerkit-topic',
  /** On a reply: `error` when it carries the responder's error instead of a value. */
  reply: 'x-brokerkit-reply',
});

/** Prefix of the headers reserved for brokerkit. */
export const RESERVED_HEADER_PREFIX = 'x-brokerkit-';

/** A copy of the headers a caller passed (publish, send, request): strings only, none reserved. */
export function copyUserHeaders(headers: Headers | undefined): Headers {
  const out: Headers = {};
  if (headers === undefined) return out;
  if (headers === null || typeof headers !== 'object') throw new ValidationError('headers must be an object');
  for (const key in headers) {
    const value = headers[key];
    if (typeof value !== 'string') throw new ValidationError(`header "${key}" must be a string`);
    if (key.startsWith(RESERVED_HEADER_PREFIX)) {
      throw new ValidationError(`header "${key}" uses the reserved prefix "${RESERVED_HEADER_PREFIX}"`);
    }
    out[key] = value;
  }
  return out;
}

const MAX_ERROR_HEADER = 1000;

/** One line, bounded: header values must stay small and printable on every broker. */
function errorSummary(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const text = `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${error.message}`.replace(
    /[\r\n]+/g,
    ' ',
  );
  return text.length > MAX_ERROR_HEADER ? `${text.slice(0, MAX_ERROR_HEADER - 1)}…` : text;
}

/** The headers a dead letter carries: the original ones plus the `x-brokerkit-*` record. */
export function deadLetterHeaders(
  original: Readonly<Headers>,
  details: { error: Error; origin: string; attempts: number; topic: string; now?: Date },
): Headers {
  const headers: Headers = {};
  for (const key in original) if (key !== HEADER.attempt) headers[key] = original[key]!;
  headers[HEADER.error] = errorSummary(details.error);
  headers[HEADER.failedAt] = (details.now ?? new Date()).toISOString();
  headers[HEADER.origin] = details.origin;
  headers[HEADER.attempts] = String(details.attempts);
  headers[HEADER.topic] = details.topic;
  return headers;
}

/** Headers without brokerkit's bookkeeping: what a handler sees, and what a replay re-sends. */
export function userHeaders(headers: Readonly<Headers>): Headers {
  let copy: Headers | undefined;
  for (const key in headers) {
    if (key.startsWith(RESERVED_HEADER_PREFIX)) {
      copy ??= { ...headers };
      delete copy[key];
    }
  }
  return copy ?? (headers as Headers);
}
