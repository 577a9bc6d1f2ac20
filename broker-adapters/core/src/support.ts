/**
 * Small building blocks adapters share: in-flight accounting for draining closes, and deadlines.
 */

/** Counts running work so `close()` can wait for it to finish. */
export class InFlightTracker {
  #count = 0;
  #waiters: Array<() => void> = [];

  /** Work currently running. */
  get size(): number {
    return this.#count;
  }

  /** One more piece of work started. */
  add(): void {
    this.#count++;
  }

  /** One piece of work finished. */
  done(): void {
    if (this.#count > 0) this.#count--;
    if (this.#count === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once nothing is running. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * Reject with `onTimeout()` if `promise` has not settled within `ms`. The timer is cleared either
 * way so it never keeps the process alive.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A promise with its resolve and reject exposed. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Create a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
