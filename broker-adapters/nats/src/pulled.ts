/**
 * A message delivered by a pull consumer, acked through its reply subject. The delivery details
 * (stream sequence, delivery count, stored time) are read from that subject, whose format
 * `nats-internals.ts` documents and parses.
 */
import type { Msg } from '@nats-io/transport-node';
import { ACK_BODY, isAckSubject, nakWithDelay, parseAckSubject } from './nats-internals.js';
import type { AckSubjectFields } from './nats-internals.js';

/** Scratch for the parse (synchronous, so one is enough). */
const fields: AckSubjectFields = { deliveryCount: 0, streamSequence: 0, storedAtMs: 0 };

/** One delivery of a durable consumer. */
export class PulledMessage {
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** When the stream stored it. */
  readonly storedAt: Date;

  constructor(readonly msg: Msg) {
    if (parseAckSubject(msg.reply ?? '', fields)) {
      this.deliveryCount = fields.deliveryCount || 1;
      this.streamSequence = fields.streamSequence;
      this.storedAt = new Date(fields.storedAtMs || Date.now());
    } else {
      this.deliveryCount = 1;
      this.streamSequence = 0;
      this.storedAt = new Date();
    }
  }

  get subject(): string {
    return this.msg.subject;
  }

  ack(): void {
    this.msg.respond(ACK_BODY.ack);
  }

  /** Redeliver, after `delayMs` when given. */
  nak(delayMs?: number): void {
    this.msg.respond(delayMs && delayMs > 0 ? nakWithDelay(delayMs) : ACK_BODY.nak);
  }

  /** Never redeliver. */
  term(): void {
    this.msg.respond(ACK_BODY.term);
  }

  /** Still working on it: restart the ack wait. */
  working(): void {
    this.msg.respond(ACK_BODY.working);
  }
}

/** True when a message on a pull inbox is a delivery (not a status such as a heartbeat). */
export function isDelivery(msg: Msg): boolean {
  return isAckSubject(msg.reply);
}
