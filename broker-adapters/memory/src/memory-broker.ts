/**
 * The state of one in-process broker: named queues (groups, work queues, dead-letter queues),
 * ephemeral subscriptions, and routing from topics to queues. Every connection to the same
 * `memory://<name>` URL shares one instance, so a group outlives its members exactly as it does
 * on a real server.
 */
import { ConfigurationError, compilePattern, deadLetterQueueName } from '@brokerkit/core/adapter';
import { MemoryQueue } from './memory-queue.js';
import type { StoredMessage } from './stored-message.js';

/** Route-cache entries kept before the cache starts over (many distinct topics must not grow memory). */
const ROUTE_CACHE_LIMIT = 10_000;

/** See the module comment. */
export class MemoryBroker {
  /** Groups, work queues and dead-letter queues by logical name. */
  readonly queues = new Map<string, MemoryQueue>();
  readonly #groups = new Set<MemoryQueue>();
  readonly #ephemeral = new Set<MemoryQueue>();
  /** topic → queues it reaches; cleared whenever a binding changes. */
  readonly #routes = new Map<string, MemoryQueue[]>();

  /** Fan a published message out to every group and ephemeral subscription whose pattern matches. */
  publish(message: StoredMessage): void {
    const targets = this.#route(message.topic);
    for (let i = 0; i < targets.length; i++) targets[i]!.enqueue(message);
  }

  /** Put a message on a work queue, declaring the queue if needed. */
  send(message: StoredMessage, delayMs: number): void {
    this.workQueue(message.topic).enqueueLater(message, delayMs);
  }

  /** The work queue `name`, declared on first use with its dead-letter queue. */
  workQueue(name: string): MemoryQueue {
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      if (existing.kind !== 'queue') {
        throw new ConfigurationError(
          `"${name}" is a ${existing.kind}, not a work queue (groups and queues share names)`,
        );
      }
      return existing;
    }
    const queue = new MemoryQueue(name, 'queue', undefined, undefined, this.#deadLetterQueue(name));
    this.queues.set(name, queue);
    return queue;
  }

  /** The group `name` bound to `pattern`, declared on first use; another pattern is a configuration error. */
  group(name: string, pattern: string): MemoryQueue {
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      if (existing.kind !== 'group') {
        throw new ConfigurationError(
          `"${name}" is a work queue, not a group (groups and queues share names)`,
        );
      }
      if (existing.pattern !== pattern) {
        throw new ConfigurationError(
          `group "${name}" is bound to "${existing.pattern}", not "${pattern}"; delete it or use another group name`,
        );
      }
      return existing;
    }
    const queue = new MemoryQueue(
      name,
      'group',
      pattern,
      compilePattern(pattern),
      this.#deadLetterQueue(name),
    );
    this.queues.set(name, queue);
    this.#groups.add(queue);
    this.#routes.clear();
    return queue;
  }

  /** A private queue for one ephemeral subscription. */
  addEphemeral(pattern: string): MemoryQueue {
    const queue = new MemoryQueue(pattern, 'ephemeral', pattern, compilePattern(pattern));
    this.#ephemeral.add(queue);
    this.#routes.clear();
    return queue;
  }

  /** Stop routing to an ephemeral queue (its subscription is closing). */
  removeEphemeralRoute(queue: MemoryQueue): void {
    if (this.#ephemeral.delete(queue)) this.#routes.clear();
  }

  /** Drop an ephemeral queue and whatever it still holds: nobody listens any more. */
  removeEphemeral(queue: MemoryQueue): void {
    this.removeEphemeralRoute(queue);
    queue.delete();
  }

  /** Delete a named queue; a group or work queue takes its dead-letter queue with it. */
  delete(queue: MemoryQueue): void {
    this.queues.delete(queue.name);
    if (this.#groups.delete(queue)) this.#routes.clear();
    queue.delete();
    if (queue.deadLetters !== undefined) this.delete(queue.deadLetters);
  }

  #deadLetterQueue(origin: string): MemoryQueue {
    const name = deadLetterQueueName(origin);
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new MemoryQueue(name, 'dlq');
      this.queues.set(name, queue);
    }
    return queue;
  }

  #route(topic: string): MemoryQueue[] {
    let targets = this.#routes.get(topic);
    if (targets !== undefined) return targets;
    targets = [];
    for (const queue of this.#groups) if (queue.matcher!(topic)) targets.push(queue);
    for (const queue of this.#ephemeral) if (queue.matcher!(topic)) targets.push(queue);
    if (this.#routes.size >= ROUTE_CACHE_LIMIT) this.#routes.clear();
    this.#routes.set(topic, targets);
    return targets;
  }
}

const instances = new Map<string, MemoryBroker>();

/** The shared broker named `name` (the host part of a `memory://` URL; `''` by default). */
export function memoryBroker(name: string): MemoryBroker {
  let broker = instances.get(name);
  if (broker === undefined) {
    broker = new MemoryBroker();
    instances.set(name, broker);
  }
  return broker;
}

/**
 * Forget the broker named `name` and everything in it (tests that want a clean slate).
 * Connections still open to it keep the old instance.
 */
export function resetMemoryBroker(name = ''): void {
  const broker = instances.get(name);
  if (broker === undefined) return;
  for (const queue of [...broker.queues.values()]) broker.delete(queue);
  instances.delete(name);
}
