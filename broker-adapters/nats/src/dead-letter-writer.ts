/**
 * Writes dead letters into a queue's or group's dead-letter stream, confirmed, before the
 * original is terminated: a crash in between redelivers the original, and the de-duplication key
 * (`<stream>:<seq>` of the original) keeps the dead-letter stream free of a second copy.
 */
import type { Headers, RawDelivery } from '@brokerkit/core';
import { dlqSubject } from './names.js';
import type { PulledMessage } from './pulled.js';
import type { Publisher } from './publisher.js';
import type { Topology } from './topology.js';
import { storedHeaders } from './wire.js';

/** Publishes dead letters. */
export class DeadLetterWriter {
  constructor(
    private readonly publisher: Publisher,
    private readonly topology: Topology,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Store `m` as a dead letter of `origin` with `headers` (core's `x-brokerkit-*` record), keeping
   * the id, content type and timestamp it was delivered with.
   */
  async write(
    origin: string,
    m: PulledMessage,
    delivered: RawDelivery,
    headers: Headers,
    dedupKey: string,
  ): Promise<void> {
    await this.topology.ensureDlqStream(origin);
    const stored = storedHeaders(
      headers,
      { id: delivered.id, contentType: delivered.contentType, timestamp: delivered.timestamp },
      `dlq:${dedupKey}`,
    );
    await this.publisher.publishStored(dlqSubject(origin), m.msg.data, stored, this.timeoutMs);
  }
}
