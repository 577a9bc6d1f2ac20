/**
 * The publishing loop behind `brokerkit-publish`: pipelines publishes up to `concurrency` in
 * flight, paces them to `rate`, and counts sent / confirmed / failed (by error code) with the
 * confirm latency. No terminal I/O here: progress goes to a callback, so tests run it in-process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Broker, Headers, PublishOptions } from '@brokerkit/core';
import { createLatencyRecorder, type LatencySummary } from './latency.js';
import type { EventSource } from './payload.js';

/** Live counters, updated as publishes settle. */
export interface PublishStats {
  /** Messages to publish in total. */
  readonly total: number;
  /** Publishes started. */
  sent: number;
  confirmed: number;
  failed: number;
  /** Failures by error `code` (`BK_TIMEOUT`, ...; `ERROR` when the error has none). */
  readonly failures: Record<string, number>;
  /** First failure message per code, for the summary. */
  readonly examples: Record<string, string>;
  /** Milliseconds since the run started. */
  elapsedMs(): number;
}

/** Options of {@link runPublisher}. */
export interface RunOptions {
  readonly broker: Broker;
  readonly mode: 'publish' | 'send';
  readonly events: EventSource;
  /** Messages per second; 0 = as fast as confirms allow. */
  readonly rate?: number;
  /** Publishes in flight at once. Default 100. */
  readonly concurrency?: number;
  /** Headers on every message; an event's own headers win. */
  readonly headers?: Headers;
  readonly timeoutMs?: number;
  /** Stop starting new publishes (those in flight still settle and are counted). */
  readonly signal?: AbortSignal;
  /** Called every `progressEveryMs` with the live counters, and once at the end. */
  readonly onProgress?: (stats: Readonly<PublishStats>) => void;
  readonly progressEveryMs?: number;
}

/** What a run did. */
export interface PublishSummary {
  readonly total: number;
  readonly sent: number;
  readonly confirmed: number;
  readonly failed: number;
  /** `total - sent`: messages never attempted because the run was interrupted. */
  readonly unsent: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly examples: Readonly<Record<string, string>>;
  readonly interrupted: boolean;
  readonly elapsedMs: number;
  /** Confirmed messages per second over the whole run. */
  readonly ratePerSec: number;
  /** Confirm latency in milliseconds (confirmed messages only). */
  readonly latencyMs: LatencySummary;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'ERROR';
}

/**
 * Publish (or send) every event of `events` and resolve with a summary once every publish has
 * settled. Never rejects because of a failed publish: failures are counted by code.
 */
export async function runPublisher(options: RunOptions): Promise<PublishSummary> {
  const { broker, events, signal } = options;
  const rate = options.rate ?? 0;
  const concurrency = options.concurrency ?? 100;
  const baseHeaders = options.headers ?? {};
  const hasBaseHeaders = Object.keys(baseHeaders).length > 0;
  const latency = createLatencyRecorder();
  const started = performance.now();
  const stats: PublishStats = {
    total: events.count,
    sent: 0,
    confirmed: 0,
    failed: 0,
    failures: {},
    examples: {},
    elapsedMs: () => performance.now() - started,
  };

  let inFlight = 0;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForSlot = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));

  // Shared by every event without its own headers or id: no options object per message.
  const sharedOptions: PublishOptions = {
    headers: hasBaseHeaders ? baseHeaders : undefined,
    messageId: undefined,
    timeoutMs: options.timeoutMs,
  };
  const publishOne = (index: number): void => {
    const event = events.at(index);
    const publishOptions: PublishOptions =
      event.headers === undefined && event.messageId === undefined
        ? sharedOptions
        : {
            headers: event.headers ? { ...baseHeaders, ...event.headers } : sharedOptions.headers,
            messageId: event.messageId,
            timeoutMs: options.timeoutMs,
          };
    const t0 = performance.now();
    inFlight++;
    stats.sent++;
    const pending =
      options.mode === 'publish'
        ? broker.publish(event.destination, event.data, publishOptions)
        : broker.send(event.destination, event.data, publishOptions);
    pending.then(
      () => {
        stats.confirmed++;
        latency.record(performance.now() - t0);
        settled();
      },
      (error: unknown) => {
        stats.failed++;
        const code = errorCode(error);
        stats.failures[code] = (stats.failures[code] ?? 0) + 1;
        stats.examples[code] ??= error instanceof Error ? error.message : String(error);
        settled();
      },
    );
  };

  const progress = options.onProgress
    ? setInterval(() => options.onProgress!(stats), options.progressEveryMs ?? 1000)
    : undefined;
  try {
    const intervalMs = rate > 0 ? 1000 / rate : 0;
    for (let i = 0; i < events.count; i++) {
      if (signal?.aborted) break;
      if (intervalMs > 0) {
        // Pace against the start time, not the previous send, so timer lateness doesn't add up.
        const wait = started + i * intervalMs - performance.now();
        if (wait >= 1) {
          try {
            await sleep(wait, undefined, { signal });
          } catch {
            break; // aborted while pacing
          }
        }
      }
      while (inFlight >= concurrency) await waitForSlot();
      publishOne(i);
    }
    while (inFlight > 0) await waitForSlot();
  } finally {
    if (progress) clearInterval(progress);
  }
  options.onProgress?.(stats);
  const elapsedMs = stats.elapsedMs();
  return {
    total: stats.total,
    sent: stats.sent,
    confirmed: stats.confirmed,
    failed: stats.failed,
    unsent: stats.total - stats.sent,
    failures: { ...stats.failures },
    examples: { ...stats.examples },
    interrupted: stats.sent < stats.total,
    elapsedMs,
    ratePerSec: elapsedMs > 0 ? (stats.confirmed * 1000) / elapsedMs : 0,
    latencyMs: latency.summary(),
  };
}
