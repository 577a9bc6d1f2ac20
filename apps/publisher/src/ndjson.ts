/**
 * NDJSON input for `--file`: the whole input is read and validated before anything is sent, so a
 * malformed line 9 000 never leaves lines 1..8 999 published with no record of what happened.
 */
import { validateQueueName, validateTopic, RESERVED_HEADER_PREFIX } from '@brokerkit/core';
import type { Headers } from '@brokerkit/core';
import { UsageError } from './errors.js';

/** One event to publish or send. */
export interface OutgoingEvent {
  /** Topic (publish) or queue (send). */
  readonly destination: string;
  readonly data: unknown;
  /** Headers of this event only, merged over the `--headers` ones. */
  readonly headers?: Headers;
  /** Message id; the broker generates one when absent. */
  readonly messageId?: string;
}

/** How to read each line. */
export interface NdjsonOptions {
  /** Name shown in messages (`events.ndjson`, `stdin`). */
  readonly source: string;
  /** `publish`: envelopes carry `topic`; `send`: envelopes carry `queue`. */
  readonly mode: 'publish' | 'send';
  /**
   * When set, every line is the payload itself and goes to this destination. When absent, every
   * line is an envelope `{ "topic"|"queue": ..., "data": ..., "headers"?: {...}, "id"?: "..." }`.
   */
  readonly destination?: string;
}

/** At most this many line errors are listed; the rest are counted. */
const MAX_LISTED_ERRORS = 10;

const ENVELOPE_KEYS = new Set(['topic', 'queue', 'data', 'headers', 'id']);

function checkDestination(mode: 'publish' | 'send', name: string): void {
  if (mode === 'publish') validateTopic(name);
  else validateQueueName(name);
}

function envelopeToEvent(value: unknown, options: NdjsonOptions): OutgoingEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('expected an object {"topic"|"queue", "data", "headers"?, "id"?} (or pass --topic)');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!ENVELOPE_KEYS.has(key)) throw new Error(`unknown key "${key}" in envelope`);
  }
  const key = options.mode === 'publish' ? 'topic' : 'queue';
  const other = options.mode === 'publish' ? 'queue' : 'topic';
  if (other in record) {
    throw new Error(
      options.mode === 'publish'
        ? `"queue" is for --send; publishing needs "topic"`
        : `"topic" is for publishing; --send needs "queue"`,
    );
  }
  const destination = record[key];
  if (typeof destination !== 'string') throw new Error(`"${key}" must be a string`);
  checkDestination(options.mode, destination);
  if (!('data' in record)) throw new Error('"data" is missing');
  const headers = record.headers;
  if (headers !== undefined) checkHeaders(headers);
  const id = record.id;
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 255)) {
    throw new Error('"id" must be a non-empty string of at most 255 characters');
  }
  return {
    destination,
    data: record.data,
    headers: headers as Headers | undefined,
    messageId: id as string | undefined,
  };
}

function checkHeaders(headers: unknown): asserts headers is Headers {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw new Error('"headers" must be an object of strings');
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw new Error(`header "${k}" must be a string`);
    if (k.startsWith(RESERVED_HEADER_PREFIX)) {
      throw new Error(`header "${k}" uses the reserved prefix "${RESERVED_HEADER_PREFIX}"`);
    }
  }
}

/**
 * Parse NDJSON text into events. Blank lines are skipped; line numbers in messages are 1-based
 * physical lines. Throws {@link UsageError} listing every bad line (up to ten) when any line is
 * malformed, or when there is no event at all.
 */
export function parseNdjson(text: string, options: NdjsonOptions): OutgoingEvent[] {
  const events: OutgoingEvent[] = [];
  const problems: string[] = [];
  let bad = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    try {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (cause) {
        throw new Error(`malformed JSON (${(cause as Error).message})`);
      }
      events.push(
        options.destination === undefined
          ? envelopeToEvent(value, options)
          : { destination: options.destination, data: value },
      );
    } catch (error) {
      bad++;
      if (problems.length < MAX_LISTED_ERRORS) {
        problems.push(`${options.source}:${i + 1}: ${(error as Error).message}`);
      }
    }
  }
  if (bad > 0) {
    const more = bad > problems.length ? `\n... and ${bad - problems.length} more bad line(s)` : '';
    throw new UsageError(
      `${problems.join('\n')}${more}\n${bad} bad line(s) in ${options.source}; nothing was sent`,
    );
  }
  if (events.length === 0)
    throw new UsageError(`${options.source}: no events (empty input); nothing was sent`);
  return events;
}
