/**
 * Settings of `brokerkit-subscribe`, from flags or environment variables (flags win), validated in
 * one place so a typo fails at start-up with exit code 2 instead of after connecting.
 */
import { parseArgs } from 'node:util';
import { isBrokerkitError, validateGroupName, validatePattern, validateQueueName } from '@brokerkit/core';

/** One subscription the service runs. */
export type SubscriptionConfig =
  | { readonly kind: 'subscribe'; readonly pattern: string }
  | { readonly kind: 'group'; readonly group: string; readonly pattern: string }
  | { readonly kind: 'queue'; readonly queue: string };

/** Simulated work time of each handler call, in ms: uniform in [min, max]. */
export interface WorkTime {
  readonly minMs: number;
  readonly maxMs: number;
}

/** Validated subscriber settings. */
export interface SubscriberConfig {
  readonly url: string;
  readonly subscriptions: readonly SubscriptionConfig[];
  /** Handlers running at once per subscription. */
  readonly concurrency: number;
  /** Delivery attempts including the first; undefined = the broker default (5). */
  readonly attempts: number | undefined;
  /** First retry delay in ms; undefined = the broker default (200). */
  readonly backoffMs: number | undefined;
  readonly work: WorkTime;
  /** Share of handler calls that throw (0..1), to show retries and dead letters. */
  readonly failureRate: number;
  readonly host: string;
  /** HTTP port for /metrics and /readyz; 0 = any free port. */
  readonly port: number;
  /** Seconds between status lines; 0 = none. */
  readonly reportEverySec: number;
  /** Append one line per handled message (`id<TAB>topic<TAB>attempt`) to this file. */
  readonly recordFile: string | undefined;
  /** Longest wait for in-flight handlers on SIGTERM before giving up (exit 1). */
  readonly drainTimeoutMs: number;
}

/** Bad flags or environment: exit code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** `--help` text. */
export const USAGE = `Usage: brokerkit-subscribe [--subscribe <pattern>] [--group <name>:<pattern>] [--queue <name>] [options]

Runs fan-out subscribers, group subscribers and work-queue workers, serves /metrics and /readyz,
and drains in-flight handlers on SIGTERM/SIGINT before exiting 0.

Subscriptions (repeatable; at least one, from flags or env):
  --subscribe <pattern>     ephemeral fan-out subscription     env SUBSCRIBE_PATTERNS=a.*,b.>
  --group <name>:<pattern>  durable group subscription         env SUBSCRIBE_GROUPS=billing:orders.>
  --queue <name>            work-queue consumer                env SUBSCRIBE_QUEUES=emails
Options:
  --url <url>               broker URL (env BROKER_URL, default memory://)
  --concurrency <n>         handlers at once per subscription (env SUBSCRIBER_CONCURRENCY, default 1)
  --attempts <n>            delivery attempts before dead-lettering (env SUBSCRIBER_ATTEMPTS, default 5)
  --backoff-ms <ms>         first retry delay (env SUBSCRIBER_BACKOFF_MS, default 200)
  --work-ms <ms|min-max>    simulated work per message (env SUBSCRIBER_WORK_MS, default 0)
  --failure-rate <0..1>     share of handler calls that throw (env SUBSCRIBER_FAILURE_RATE, default 0)
  --host <host>             HTTP host (env SUBSCRIBER_HOST, default 127.0.0.1)
  --port <port>             HTTP port, 0 = any free one (env SUBSCRIBER_PORT, default 3001)
  --report-every <s>        seconds between status lines, 0 = none (default 5)
  --record <file>           append "id<TAB>topic<TAB>attempt" per handled message (audits, tests)
  --drain-timeout <ms>      longest SIGTERM drain before exiting 1 (default 30000)
  -h, --help                this text`;

const list = (raw: string | undefined): string[] =>
  raw === undefined
    ? []
    : raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);

function number(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  int = true,
): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(value) ||
    (int && !Number.isInteger(value)) ||
    value < min ||
    value > max
  ) {
    throw new ConfigError(
      `${name} must be ${int ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

function workTime(name: string, raw: string | undefined): WorkTime {
  if (raw === undefined || raw === '') return { minMs: 0, maxMs: 0 };
  const m = /^(\d+)(?:-(\d+))?$/.exec(raw.trim());
  if (!m) throw new ConfigError(`${name} must be milliseconds or a range min-max, got "${raw}"`);
  const minMs = Number(m[1]);
  const maxMs = m[2] === undefined ? minMs : Number(m[2]);
  if (maxMs < minMs) throw new ConfigError(`${name} range "${raw}" has max below min`);
  return { minMs, maxMs };
}

function checked(label: string, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (isBrokerkitError(error)) throw new ConfigError(`${label}: ${error.message}`);
    throw error;
  }
}

function subscriptionsFrom(
  patterns: string[],
  groups: string[],
  queues: string[],
  source: 'flag' | 'env',
): SubscriptionConfig[] {
  const out: SubscriptionConfig[] = [];
  const names = new Set<string>();
  const label = (flag: string, env: string) => (source === 'flag' ? `--${flag}` : env);
  for (const pattern of patterns) {
    checked(`${label('subscribe', 'SUBSCRIBE_PATTERNS')} "${pattern}"`, () => validatePattern(pattern));
    out.push({ kind: 'subscribe', pattern });
  }
  for (const spec of groups) {
    const where = `${label('group', 'SUBSCRIBE_GROUPS')} "${spec}"`;
    const colon = spec.indexOf(':');
    if (colon <= 0 || colon === spec.length - 1)
      throw new ConfigError(`${where}: expected <group>:<pattern>, e.g. billing:orders.>`);
    const group = spec.slice(0, colon);
    const pattern = spec.slice(colon + 1);
    checked(where, () => {
      validateGroupName(group);
      validatePattern(pattern, { group: true });
    });
    // Groups and work queues share one namespace on every broker.
    if (names.has(group)) throw new ConfigError(`${where}: "${group}" is named twice`);
    names.add(group);
    out.push({ kind: 'group', group, pattern });
  }
  for (const queue of queues) {
    const where = `${label('queue', 'SUBSCRIBE_QUEUES')} "${queue}"`;
    checked(where, () => validateQueueName(queue));
    if (names.has(queue)) throw new ConfigError(`${where}: "${queue}" is named twice`);
    names.add(queue);
    out.push({ kind: 'queue', queue });
  }
  return out;
}

/** Result of {@link parseSubscriberConfig}. */
export type ParsedConfig = { readonly help: true } | ({ readonly help: false } & SubscriberConfig);

/** Parse flags over environment variables. Throws {@link ConfigError} naming the flag or variable. */
export function parseSubscriberConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedConfig {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        subscribe: { type: 'string', multiple: true },
        group: { type: 'string', multiple: true },
        queue: { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        attempts: { type: 'string' },
        'backoff-ms': { type: 'string' },
        'work-ms': { type: 'string' },
        'failure-rate': { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'report-every': { type: 'string' },
        record: { type: 'string' },
        'drain-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new ConfigError(
      `${(error as Error).message.split('. ')[0]}\nRun with --help for the list of options.`,
    );
  }
  if (values.help) return { help: true };
  if (positionals.length > 0) throw new ConfigError(`unexpected argument "${positionals[0]}"`);
  const flag = (name: string): string | undefined => values[name] as string | undefined;
  const many = (name: string): string[] => (values[name] as string[] | undefined) ?? [];
  /** A flag, else its environment variable; the label names whichever was used. */
  const pick = (name: string, envName: string): [string, string | undefined] =>
    flag(name) !== undefined ? [`--${name}`, flag(name)] : [envName, env[envName]];

  const fromFlags = many('subscribe').length + many('group').length + many('queue').length > 0;
  const subscriptions = fromFlags
    ? subscriptionsFrom(many('subscribe'), many('group'), many('queue'), 'flag')
    : subscriptionsFrom(
        list(env.SUBSCRIBE_PATTERNS),
        list(env.SUBSCRIBE_GROUPS),
        list(env.SUBSCRIBE_QUEUES),
        'env',
      );
  if (subscriptions.length === 0) {
    throw new ConfigError('nothing to run: give --subscribe, --group or --queue (or SUBSCRIBE_* variables)');
  }
  const attemptsRaw = pick('attempts', 'SUBSCRIBER_ATTEMPTS');
  const backoffRaw = pick('backoff-ms', 'SUBSCRIBER_BACKOFF_MS');
  return {
    help: false,
    url: flag('url') ?? (env.BROKER_URL || 'memory://'),
    subscriptions,
    concurrency: number(...pick('concurrency', 'SUBSCRIBER_CONCURRENCY'), 1, 1, 10_000),
    attempts: attemptsRaw[1] ? number(...attemptsRaw, 5, 1, 1000) : undefined,
    backoffMs: backoffRaw[1] ? number(...backoffRaw, 200, 0, 3_600_000) : undefined,
    work: workTime(...pick('work-ms', 'SUBSCRIBER_WORK_MS')),
    failureRate: number(...pick('failure-rate', 'SUBSCRIBER_FAILURE_RATE'), 0, 0, 1, false),
    host: pick('host', 'SUBSCRIBER_HOST')[1] || '127.0.0.1',
    port: number(...pick('port', 'SUBSCRIBER_PORT'), 3001, 0, 65_535),
    reportEverySec: number('--report-every', flag('report-every'), 5, 0, 86_400, false),
    recordFile: flag('record'),
    drainTimeoutMs: number('--drain-timeout', flag('drain-timeout'), 30_000, 1, 3_600_000),
  };
}
