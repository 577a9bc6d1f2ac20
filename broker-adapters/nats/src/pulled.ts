/**
 * A message delivered by a pull consumer, acked through its reply subject. The delivery details
 * (stream sequence, delivery count, stored time) are read from that subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time ns>.<pending>`, or
 * from 2.10 on `$JS.ACK.<domain>.<account hash>.<stream>.….<pending>.<random>`.
 */
import type { Msg } from '@nats-io/transport-node';

const ACK = Buffer.from('+ACK');
const NAK = Buffer.from('-NAK');
const TERM = Buffer.from('+TERM');
const WORKING = Buffer.from('+WPI');

/** One delivery of a durable consumer. */
export class PulledMessage {
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** When the stream stored it. */
  readonly storedAt: Date;

  constructor(readonly msg: Msg) {
    const tokens = (msg.reply ?? '').split('.');
    // The old form has no domain and account hash: its fields start two tokens earlier.
    const at = tokens.length === 9 ? 4 : 6;
    this.deliveryCount = Number(tokens[at]) || 1;
    this.streamSequence = Number(tokens[at + 1]) || 0;
    this.storedAt = new Date(Number(tokens[at + 3]) / 1e6 || Date.now());
  }

  get subject(): string {
    return this.msg.subject;
  }

  ack(): void {
    this.msg.respond(ACK);
  }

  /** Redeliver, after `delayMs` when given. */
  nak(delayMs?: number): void {
    this.msg.respond(
      delayMs && delayMs > 0 ? Buffer.from(`-NAK {"delay":${Math.round(delayMs) * 1_000_000}}`) : NAK,
    );
  }

  /** Never redeliver. */
  term(): void {
    this.msg.respond(TERM);
  }

  /** Still working on it: restart the ack wait. */
  working(): void {
    this.msg.respond(WORKING);
  }
}

/** True when a message on a pull inbox is a delivery (not a status such as a heartbeat). */
export function isDelivery(msg: Msg): boolean {
  return msg.reply?.startsWith('$JS.ACK.') === true;
}
