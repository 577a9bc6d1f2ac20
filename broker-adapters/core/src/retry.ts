/**
 * Retry policy maths, shared by every adapter so attempt counts and delays are the same
 * everywhere.
 */
import { ValidationError } from './errors.js';
import { assertKnownKeys } from './option-checks.js';
import type { RetryOptions, RetryPolicy } from './types.js';

/** Default policy: 5 attempts, 200 ms doubling up to 30 s, with jitter. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 5,
  initialMs: 200,
  factor: 2,
  maxMs: 30_000,
  jitter: true,
});

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ValidationError(`retry ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

const RETRY_KEYS: ReadonlySet<string> = new Set(['attempts', 'backoff']);
const BACKOFF_KEYS: ReadonlySet<string> = new Set(['initialMs', 'factor', 'maxMs', 'jitter']);

/** Apply defaults (`base`, then {@link DEFAULT_RETRY}) and validate. */
export function resolveRetryPolicy(options?: RetryOptions, base: RetryPolicy = DEFAULT_RETRY): RetryPolicy {
  if (!options) return base;
  assertKnownKeys(options, RETRY_KEYS, 'retry');
  assertKnownKeys(options.backoff, BACKOFF_KEYS, 'retry.backoff');
  const b = options.backoff ?? {};
  const policy: RetryPolicy = {
    attempts: positiveInt('attempts', options.attempts ?? base.attempts, 1),
    initialMs: positiveInt('backoff.initialMs', b.initialMs ?? base.initialMs, 0),
    factor: b.factor ?? base.factor,
    maxMs: positiveInt('backoff.maxMs', b.maxMs ?? base.maxMs, 0),
    jitter: b.jitter ?? base.jitter,
  };
  if (typeof policy.jitter !== 'boolean') {
    throw new ValidationError(`retry backoff.jitter must be a boolean, got ${String(policy.jitter)}`);
  }
  if (!(policy.factor >= 1) || !Number.isFinite(policy.factor)) {
    throw new ValidationError(
      `retry backoff.factor must be a finite number >= 1, got ${String(policy.factor)}`,
    );
  }
  return policy;
}

/** The nominal delay after attempt `attempt` (1-based) failed: `initialMs * factor^(attempt-1)`, capped. */
export function nominalDelay(policy: RetryPolicy, attempt: number): number {
  const raw = policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt - 1));
  return Math.min(policy.maxMs, Math.round(raw));
}

/**
 * The delay to wait after attempt `attempt` failed. With jitter, uniformly within
 * [nominal / 2, nominal]: never longer than nominal, so a broker-side bucket of the nominal delay
 * (RabbitMQ retry queues) can hold it.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const nominal = nominalDelay(policy, attempt);
  if (!policy.jitter || nominal === 0) return nominal;
  const half = nominal / 2;
  return Math.round(half + random() * half);
}

/** Reconnection delay for the n-th consecutive failure (1-based), with full jitter. */
export function reconnectDelay(
  failures: number,
  options: { initialMs?: number; maxMs?: number; factor?: number } = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialMs ?? 100;
  const max = options.maxMs ?? 5_000;
  const factor = options.factor ?? 2;
  const nominal = Math.min(max, initial * Math.pow(factor, Math.max(0, failures - 1)));
  // Full jitter spreads a fleet of clients reconnecting to a restarted broker.
  return Math.round(nominal / 2 + (random() * nominal) / 2);
}
