/**
 * The demo handler: simulated work time and failure rate, counters for the status line, and an
 * optional record of handled messages (one line each) for audits and the drain tests.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Handler, Message } from '@brokerkit/core';
import type { WorkTime } from './config.js';

/** Totals since start; the status line prints their rates. */
export interface HandlerCounters {
  /** Handler calls that resolved (the message is acked). */
  handled: number;
  /** Handler calls that threw (simulated failures). */
  failed: number;
}

/** Appends `id<TAB>topic<TAB>attempt` lines to a file. */
export interface Recorder {
  record(message: Message): void;
  /** Flush and close the file. */
  close(): Promise<void>;
}

/** Open `path` for appending handled-message lines. */
export async function openRecorder(path: string): Promise<Recorder> {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  await once(stream, 'open');
  let closing: Promise<void> | undefined;
  return {
    record(message) {
      stream.write(`${message.id}\t${message.topic}\t${message.attempt}\n`);
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      return closing;
    },
  };
}

/** Thrown by the handler for a simulated failure; the broker retries it. */
export class SimulatedFailure extends Error {
  constructor(message: Message) {
    super(`simulated failure of message ${message.id} (attempt ${message.attempt})`);
    this.name = 'SimulatedFailure';
  }
}

/** Options of {@link createWorkHandler}. */
export interface WorkHandlerOptions {
  readonly work: WorkTime;
  readonly failureRate: number;
  readonly counters: HandlerCounters;
  readonly recorder?: Recorder;
  /** Injected for tests; default Math.random. */
  readonly random?: () => number;
}

/** A handler that "works" for the configured time, then fails with `failureRate` or succeeds. */
export function createWorkHandler(options: WorkHandlerOptions): Handler {
  const { work, failureRate, counters, recorder } = options;
  const random = options.random ?? Math.random;
  const spread = work.maxMs - work.minMs;
  return async (message) => {
    const ms = spread > 0 ? work.minMs + Math.round(random() * spread) : work.minMs;
    if (ms > 0) await sleep(ms);
    if (failureRate > 0 && random() < failureRate) {
      counters.failed++;
      throw new SimulatedFailure(message);
    }
    counters.handled++;
    recorder?.record(message);
  };
}
