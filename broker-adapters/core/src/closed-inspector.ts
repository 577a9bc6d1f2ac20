import { ClosedError } from './errors.js';
import type { QueueInspector } from './types.js';

/**
 * The broker's view of an adapter's {@link QueueInspector}: every call rejects with
 * `ClosedError` once the broker is closed, like every other broker call, instead of reaching a
 * connection that is gone.
 */
export function closedAwareInspector(inner: QueueInspector, isClosed: () => boolean): QueueInspector {
  function guard<A extends unknown[], R>(method: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args) => (isClosed() ? Promise.reject(new ClosedError()) : method.apply(inner, args));
  }
  return {
    listQueues: guard(inner.listQueues),
    queueInfo: guard(inner.queueInfo),
    purge: guard(inner.purge),
    deleteQueue: guard(inner.deleteQueue),
    peekDeadLetters: guard(inner.peekDeadLetters),
    replayDeadLetters: guard(inner.replayDeadLetters),
  };
}
