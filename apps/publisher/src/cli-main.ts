/**
 * `brokerkit-publish` as a function: parse flags, read input, connect, run, print the summary and
 * return the exit code. The bin (`cli.ts`) only wires it to the process, so tests can call it.
 */
import { readFile } from 'node:fs/promises';
import { connect, redactUrl, type Broker } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import { parsePublisherArgs, USAGE, type PublisherConfig } from './args.js';
import { UsageError } from './errors.js';
import { parseNdjson } from './ndjson.js';
import { generatedSource, listSource, type EventSource } from './payload.js';
import { barReporter, formatSummary, lineReporter, type ProgressReporter } from './report.js';
import { runPublisher, type PublishSummary } from './run.js';
import { serveMetrics, type MetricsEndpoint } from './metrics-endpoint.js';

/** Printed when the URL is memory://, which no other process can reach. */
export const MEMORY_NOTE =
  'memory:// is in-process: use --url amqp://… or --url nats://… to connect two processes';

/** Exit codes of the CLI. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2, interrupted: 130 });

/** Where the CLI reads and writes; the process's streams by default. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Aborting it stops starting new publishes (SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
  /** Connect function; tests may pass one that shares an in-process broker. */
  readonly connect?: (url: string) => Promise<Broker>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Read and validate the whole input before connecting: a bad line means nothing is sent. */
async function loadEvents(config: PublisherConfig, io: CliIo): Promise<EventSource> {
  const input = config.input;
  if (input.kind === 'generate') return generatedSource(config.destination!, input.count, input.size);
  let text: string;
  const source = input.path === '-' ? 'stdin' : input.path;
  try {
    text = input.path === '-' ? await readAll(io.stdin) : await readFile(input.path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${source}: ${(error as Error).message}`);
  }
  return listSource(parseNdjson(text, { source, mode: config.mode, destination: config.destination }));
}

function reporterFor(config: PublisherConfig, io: CliIo): ProgressReporter | undefined {
  if (config.quiet) return undefined;
  const stderr = io.stderr;
  if (stderr.isTTY) return barReporter(stderr as NodeJS.WriteStream);
  return lineReporter((line) => stderr.write(`${line}\n`));
}

function exitCodeOf(summary: PublishSummary): number {
  if (summary.failed > 0) return EXIT.failed;
  if (summary.unsent > 0) return EXIT.interrupted;
  return EXIT.ok;
}

/** Run the CLI with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const err = (text: string) => io.stderr.write(`${text}\n`);
  let config: PublisherConfig;
  let events: EventSource;
  try {
    const parsed = parsePublisherArgs(argv, io.env);
    if (parsed.help) {
      io.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    config = parsed;
    events = await loadEvents(config, io);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`brokerkit-publish: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  }

  let broker: Broker;
  try {
    broker = await (io.connect ?? connect)(config.url);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'ERROR';
    err(
      `brokerkit-publish: cannot connect to ${redactUrl(config.url)}: ${(error as Error).message} [${code}]`,
    );
    return code === 'BK_VALIDATION' || code === 'BK_CONFIG' ? EXIT.usage : EXIT.failed;
  }

  // Two processes on their default memory:// each have their own broker: say so before a user
  // waits for a subscriber in another terminal that can never see these messages.
  if (config.url.trim().startsWith('memory:') && !config.quiet) err(`brokerkit-publish: ${MEMORY_NOTE}`);

  let endpoint: MetricsEndpoint | undefined;
  if (config.metricsPort !== undefined) {
    // Measured only when someone can scrape it: the middleware costs a little per publish.
    const brokerMetrics = metrics();
    broker.use(brokerMetrics);
    try {
      endpoint = await serveMetrics({
        broker,
        registry: brokerMetrics.registry,
        host: config.metricsHost,
        port: config.metricsPort,
      });
      err(`brokerkit-publish: metrics on ${endpoint.url}`);
    } catch (error) {
      err(
        `brokerkit-publish: cannot serve metrics on ${config.metricsHost}:${config.metricsPort}: ${(error as Error).message}`,
      );
      if (!io.connect) await broker.close();
      return EXIT.usage;
    }
  }

  const reporter = reporterFor(config, io);
  let summary: PublishSummary;
  try {
    summary = await runPublisher({
      broker,
      mode: config.mode,
      events,
      rate: config.rate,
      concurrency: config.concurrency,
      headers: config.headers,
      timeoutMs: config.timeoutMs,
      signal: io.signal,
      onProgress: reporter ? (stats) => reporter.update(stats) : undefined,
      progressEveryMs: reporter?.everyMs,
    });
  } finally {
    reporter?.stop();
    await endpoint?.close();
    if (!io.connect) await broker.close();
  }
  io.stdout.write(config.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary, config.mode)}\n`);
  return exitCodeOf(summary);
}
