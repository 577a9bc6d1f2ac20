/**
 * Generated payloads for `--count/--size`: a JSON object whose encoded form is exactly `size`
 * bytes when `size` is at least the size of the object without padding.
 */
import type { OutgoingEvent } from './ndjson.js';

/** A source of events addressed by index, so nothing is materialised up front. */
export interface EventSource {
  readonly count: number;
  at(index: number): OutgoingEvent;
}

/** Events already in memory (e.g. parsed from a file). */
export function listSource(events: readonly OutgoingEvent[]): EventSource {
  return { count: events.length, at: (i) => events[i]! };
}

/**
 * `count` events `{ "seq": i, "pad": "xx…" }` to `destination`, each encoding to `size` bytes
 * (or the unpadded minimum, when `size` is smaller).
 */
export function generatedSource(destination: string, count: number, size: number): EventSource {
  // One padding string shared by all messages; `slice` of it is a cheap view, not a copy.
  const pad = 'x'.repeat(size);
  return {
    count,
    at(index) {
      // {"seq":<digits>,"pad":""} is 17 bytes plus the digits.
      const overhead = 17 + String(index).length;
      return { destination, data: { seq: index, pad: pad.slice(0, Math.max(0, size - overhead)) } };
    },
  };
}
