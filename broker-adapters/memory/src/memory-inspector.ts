/**
 * {@link QueueInspector} over a {@link MemoryBroker}: exact numbers, read from its counters.
 * Core's inspector wrapper has validated names and applied the limits' defaults.
 */
import { NotFoundError, deadLetterOrigin, replayHeaders, toDeadLetter } from '@brokerkit/core/adapter';
import type { Codec, DeadLetter, QueueInfo, QueueInspector, QueueKind } from '@brokerkit/core';
import type { MemoryBroker } from './memory-broker.js';
import type { MemoryQueue } from './memory-queue.js';
import { withAttempt } from './stored-message.js';

function info(queue: MemoryQueue): QueueInfo {
  return {
    name: queue.name,
    kind: queue.kind as QueueKind,
    depth: queue.ready.length,
    inFlight: queue.inFlight + queue.delayed,
    consumers: queue.consumers.length,
  };
}

/** See the module comment. */
export class MemoryInspector implements QueueInspector {
  constructor(
    private readonly broker: MemoryBroker,
    private readonly codec: Codec,
  ) {}

  async listQueues(): Promise<QueueInfo[]> {
    const names = [...this.broker.queues.keys()].sort();
    return names.map((name) => info(this.broker.queues.get(name)!));
  }

  async queueInfo(name: string): Promise<QueueInfo> {
    return info(this.#find(name));
  }

  async purge(name: string): Promise<number> {
    return this.#find(name).purge();
  }

  /**
   * A group or work queue goes with its dead-letter queue. A dead-letter queue whose origin still
   * exists is only emptied: the origin keeps dead-lettering into it.
   */
  async deleteQueue(name: string): Promise<void> {
    const queue = this.#find(name);
    const origin = deadLetterOrigin(name);
    if (queue.kind === 'dlq' && origin !== undefined && this.broker.queues.has(origin)) {
      queue.purge();
      return;
    }
    this.broker.delete(queue);
  }

  async peekDeadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    const dlq = this.#deadLetters(queue);
    return dlq.ready.peek(limit).map((stored) => toDeadLetter(stored, this.codec));
  }

  async replayDeadLetters(queue: string, options: { limit?: number }): Promise<number> {
    const origin = this.#find(queue);
    const dlq = this.#deadLetters(queue);
    const limit = options.limit!;
    let moved = 0;
    while (moved < limit) {
      const letter = dlq.ready.shift();
      if (letter === undefined) break;
      origin.enqueue(withAttempt(letter, 1, replayHeaders(letter.headers)));
      moved++;
    }
    return moved;
  }

  #find(name: string): MemoryQueue {
    const queue = this.broker.queues.get(name);
    if (queue === undefined) throw new NotFoundError(`no queue or group named "${name}"`);
    return queue;
  }

  #deadLetters(origin: string): MemoryQueue {
    const queue = this.#find(origin);
    if (queue.deadLetters === undefined) {
      throw new NotFoundError(`"${origin}" is a ${queue.kind} and has no dead-letter queue`);
    }
    return queue.deadLetters;
  }
}
