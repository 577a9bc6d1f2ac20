/**
 * A first-in first-out buffer with O(1) push and shift. `Array.prototype.shift` is O(n), which
 * turns a backlog of a few hundred thousand messages into a quadratic drain.
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Items waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, removed; `undefined` when empty. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined; // let it be collected
    // Compact once the consumed prefix dominates, so memory follows the live length.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Up to `limit` oldest items, without removing them. */
  peek(limit: number): T[] {
    return this.#items.slice(this.#head, this.#head + Math.max(0, limit)) as T[];
  }

  /** Remove everything; returns how many items were removed. */
  clear(): number {
    const removed = this.length;
    this.#items = [];
    this.#head = 0;
    return removed;
  }
}
