/**
 * Command-line flags of `brokerkit-publish`, parsed with `node:util` parseArgs and validated in
 * one place so every mistake is reported before the broker is touched.
 */
import { parseArgs } from 'node:util';
import { RESERVED_HEADER_PREFIX, isBrokerkitError, validateQueueName, validateTopic } from '@brokerkit/core';
import type { Headers } from '@brokerkit/core';
import { UsageError } from './errors.js';

/** Where events come from. */
export type EventInput =
  | { readonly kind: 'generate'; readonly count: number; readonly size: number }
  /** `path` is `-` for stdin. */
  | { readonly kind: 'file'; readonly path: string };

/** Validated publisher settings. */
export interface PublisherConfig {
  readonly url: string;
  /** `publish` to a topic (events) or `send` to a work queue (`--send`). */
  readonly mode: 'publish' | 'send';
  /** Topic or queue; absent only with `--file`, whose lines then name their own. */
  readonly destination: string | undefined;
  readonly input: EventInput;
  /** Messages per second; 0 = as fast as confirms allow. */
  readonly rate: number;
  /** Publishes in flight at once. */
  readonly concurrency: number;
  readonly headers: Headers;
  /** Per-message confirm timeout in ms; undefined = the broker default (30 s). */
  readonly timeoutMs: number | undefined;
  /** Print the summary as one JSON object on stdout. */
  readonly json: boolean;
  /** No progress output. */
  readonly quiet: boolean;
  /** Serve `/metrics` on this port while publishing (for Prometheus); undefined = no endpoint. */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
}

/** `--help` text. */
export const USAGE = `Usage: brokerkit-publish --topic <topic> [options]
       brokerkit-publish --send --topic <queue> [options]
       brokerkit-publish --file events.ndjson [--topic <topic>] [options]

Publishes events (or sends work-queue commands) and prints a summary: sent, confirmed,
failed by error code, msg/s, confirm latency p50/p99.

Options:
  --url <url>            broker URL (default: $BROKER_URL or memory://)
  --topic <name>         topic to publish to (with --send: the work queue)
  --send                 send to a work queue instead of publishing an event
  --count <n>            number of generated messages (default 1000)
  --size <bytes>         size of each generated JSON payload (default 100)
  --rate <msg/s>         target rate; 0 = as fast as confirms allow (default 0)
  --concurrency <n>      publishes in flight at once (default 100)
  --file <path|->        NDJSON input, one event per line ("-" = stdin); read and validated
                         completely before anything is sent. With --topic every line is the
                         payload; without it every line is {"topic"|"queue","data","headers"?,"id"?}
  --headers <k=v>        header on every message (repeatable)
  --timeout <ms>         per-message confirm timeout (default: broker default, 30000)
  --json                 print the summary as JSON on stdout
  --quiet                no progress output
  --metrics-port <port>  serve Prometheus /metrics on this port while publishing
                         (env PUBLISHER_METRICS_PORT; 0 = any free port)
  --metrics-host <host>  host of the metrics endpoint (env PUBLISHER_METRICS_HOST, default 127.0.0.1)
  -h, --help             this text

Exit codes: 0 everything confirmed, 1 something failed or was not sent, 2 bad flags or input,
130 interrupted (SIGINT/SIGTERM) before everything was sent.`;

const MAX_SIZE = 64 * 1024 * 1024;

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function parseHeaders(raw: readonly string[]): Headers {
  const headers: Headers = {};
  for (const item of raw) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--headers expects key=value, got "${item}"`);
    const key = item.slice(0, eq);
    if (key.startsWith(RESERVED_HEADER_PREFIX)) {
      throw new UsageError(`--headers "${key}" uses the reserved prefix "${RESERVED_HEADER_PREFIX}"`);
    }
    headers[key] = item.slice(eq + 1);
  }
  return headers;
}

/** parseArgs' own message, without its long advice on positionals for an unknown option. */
function parseArgsMessage(error: Error): string {
  const code = (error as { code?: string }).code;
  return code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? error.message.split('. ')[0]! : error.message;
}

/** Result of {@link parsePublisherArgs}: either settings or a request for help. */
export type ParsedArgs = { readonly help: true } | ({ readonly help: false } & PublisherConfig);

/**
 * Parse and validate the command line. Throws {@link UsageError} (exit code 2) naming the flag
 * and the value for anything wrong; touches no broker and no file.
 */
export function parsePublisherArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        topic: { type: 'string' },
        send: { type: 'boolean', default: false },
        count: { type: 'string' },
        size: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        file: { type: 'string' },
        headers: { type: 'string', multiple: true },
        timeout: { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${parseArgsMessage(error as Error)}\nRun with --help for the list of options.`);
  }
  if (values.help) return { help: true };
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"\nRun with --help for the list of options.`);
  }
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const mode = values.send ? 'send' : 'publish';
  const destination = str('topic');
  const file = str('file');
  if (destination === undefined && file === undefined) {
    throw new UsageError(
      `--topic is required (or --file with envelopes naming their ${mode === 'send' ? 'queue' : 'topic'})`,
    );
  }
  if (destination !== undefined) {
    try {
      if (mode === 'publish') validateTopic(destination);
      else validateQueueName(destination);
    } catch (error) {
      if (isBrokerkitError(error)) throw new UsageError(`--topic: ${error.message}`);
      throw error;
    }
  }
  let input: EventInput;
  if (file !== undefined) {
    if (file === '') throw new UsageError('--file needs a path, or "-" for stdin');
    if (str('count') !== undefined)
      throw new UsageError('--count cannot be combined with --file: the file decides');
    if (str('size') !== undefined)
      throw new UsageError('--size cannot be combined with --file: the file decides');
    input = { kind: 'file', path: file };
  } else {
    input = {
      kind: 'generate',
      count: integer('count', str('count'), 1000, 1, Number.MAX_SAFE_INTEGER),
      size: integer('size', str('size'), 100, 0, MAX_SIZE),
    };
  }
  const rateRaw = str('rate');
  const rate = rateRaw === undefined ? 0 : Number(rateRaw);
  if (rateRaw !== undefined && (rateRaw.trim() === '' || !Number.isFinite(rate) || rate < 0)) {
    throw new UsageError(
      `--rate must be a number >= 0 (messages per second, 0 = unlimited), got "${rateRaw}"`,
    );
  }
  const url = str('url') ?? (env.BROKER_URL || 'memory://');
  if (url === '') throw new UsageError('--url must not be empty');
  const timeoutRaw = str('timeout');
  const metricsPortRaw = str('metrics-port') ?? (env.PUBLISHER_METRICS_PORT || undefined);
  const metricsHost = str('metrics-host') ?? (env.PUBLISHER_METRICS_HOST || '127.0.0.1');
  if (metricsHost === '') throw new UsageError('--metrics-host must not be empty');
  return {
    help: false,
    url,
    mode,
    destination,
    input,
    rate,
    concurrency: integer('concurrency', str('concurrency'), 100, 1, 100_000),
    headers: parseHeaders((values.headers as string[] | undefined) ?? []),
    timeoutMs: timeoutRaw === undefined ? undefined : integer('timeout', timeoutRaw, 0, 1, 3_600_000),
    json: values.json === true,
    quiet: values.quiet === true,
    metricsPort:
      metricsPortRaw === undefined ? undefined : integer('metrics-port', metricsPortRaw, 0, 0, 65_535),
    metricsHost,
  };
}
