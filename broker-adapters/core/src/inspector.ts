/**
 * The broker's view of an adapter's {@link QueueInspector}: names and limits validated and
 * defaulted here, once for every adapter, and every call rejected with `ClosedError` once the
 * broker is closed instead of reaching a connection that is gone. Adapters receive only valid
 * names and an explicit integer limit.
 */
import { ClosedError, ValidationError } from './errors.js';
import { assertKnownKeys } from './option-checks.js';
import type { QueueInspector } from './types.js';

/** Dead letters `peekDeadLetters` returns when no limit is given. */
export const DEFAULT_PEEK_LIMIT = 10;
/** Most dead letters one `peekDeadLetters` call returns (each carries its body). */
export const MAX_PEEK_LIMIT = 1_000;

const NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const REPLAY_KEYS: ReadonlySet<string> = new Set(['limit']);

function checkName(name: unknown, role: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || !NAME.test(name)) {
    throw new ValidationError(`${role} ${JSON.stringify(name)} is not a valid queue or group name`);
  }
  return name;
}

/** A queue name accepted by inspection calls: a queue or group, or its `.dlq` companion. */
function checkQueue(name: unknown): string {
  return checkName(name, 'queue');
}

/** The origin (queue or group) of a dead-letter call. */
function checkOrigin(name: unknown): string {
  return checkName(name, 'queue');
}

function checkLimit(limit: unknown, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? '>= 1' : `from 1 to ${max}`;
    throw new ValidationError(`limit must be an integer ${range}, got ${String(limit)}`);
  }
  return limit;
}

/** Wrap an adapter's inspector; see the module comment. */
export function strictInspector(inner: QueueInspector, isClosed: () => boolean): QueueInspector {
  function run<R>(call: () => Promise<R>): Promise<R> {
    if (isClosed()) return Promise.reject(new ClosedError());
    try {
      return call();
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return {
    listQueues: () => run(() => inner.listQueues()),
    queueInfo: (name) => run(() => inner.queueInfo(checkQueue(name))),
    purge: (name) => run(() => inner.purge(checkQueue(name))),
    deleteQueue: (name) => run(() => inner.deleteQueue(checkQueue(name))),
    peekDeadLetters: (queue, limit) =>
      run(() =>
        inner.peekDeadLetters(checkOrigin(queue), checkLimit(limit, DEFAULT_PEEK_LIMIT, MAX_PEEK_LIMIT)),
      ),
    replayDeadLetters: (queue, options) =>
      run(() => {
        assertKnownKeys(options, REPLAY_KEYS, 'replayDeadLetters options');
        const limit = checkLimit(options?.limit, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
        return inner.replayDeadLetters(checkOrigin(queue), { limit });
      }),
  };
}
