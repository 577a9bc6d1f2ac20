/**
 * The subscriber service: connect, start every configured subscription with the simulated-work
 * handler, serve HTTP, print a status line now and then (never per message), and drain on close.
 */
import { connect, redactUrl, type Broker, type Subscription } from '@brokerkit/core';
import { metrics as brokerMetrics, type BrokerMetrics } from '@brokerkit/metrics';
import type { FastifyInstance } from 'fastify';
import type { SubscriberConfig, SubscriptionConfig } from './config.js';
import { buildHttpApp, type Readiness } from './http.js';
import { createWorkHandler, openRecorder, type HandlerCounters, type Recorder } from './worker.js';

/** A running subscriber service. */
export interface SubscriberService {
  readonly broker: Broker;
  readonly metrics: BrokerMetrics;
  readonly app: FastifyInstance;
  /** `http://host:port` the service listens on. */
  readonly url: string;
  readonly counters: Readonly<HandlerCounters>;
  /**
   * Stop: `/readyz` turns 503, consumers stop, in-flight handlers finish and settle
   * (`broker.close()`), the record file is flushed, HTTP closes. Idempotent.
   */
  close(): Promise<void>;
}

/** Options of {@link startSubscriber}. */
export interface StartOptions {
  /** Where status lines go. Default console.log. */
  readonly print?: (line: string) => void;
  /** Connect function (tests); default `connect` from core. */
  readonly connect?: (url: string) => Promise<Broker>;
}

/** Human-readable name of one subscription, for status lines. */
export function describeSubscription(s: SubscriptionConfig): string {
  switch (s.kind) {
    case 'subscribe':
      return `subscribe ${s.pattern}`;
    case 'group':
      return `group ${s.group} (${s.pattern})`;
    case 'queue':
      return `queue ${s.queue}`;
  }
}

/** Start the service described by `config`; resolves once every subscription is live. */
export async function startSubscriber(
  config: SubscriberConfig,
  options: StartOptions = {},
): Promise<SubscriberService> {
  const print = options.print ?? ((line: string) => console.log(line));
  const recorder: Recorder | undefined = config.recordFile
    ? await openRecorder(config.recordFile)
    : undefined;
  let broker: Broker;
  try {
    broker = await (options.connect ?? connect)(config.url);
  } catch (error) {
    await recorder?.close();
    throw error;
  }
  const metrics = brokerMetrics();
  broker.use(metrics);
  // Broker-reported errors (discarded messages, faults) can come once per message: print the
  // first of each code, count the rest into the status line.
  const errorsByCode = new Map<string, number>();
  broker.on('error', (error) => {
    const code = (error as { code?: string }).code ?? 'ERROR';
    const seen = errorsByCode.get(code) ?? 0;
    errorsByCode.set(code, seen + 1);
    if (seen === 0)
      print(
        `broker error [${code}]: ${error.message} (further ${code} errors are counted in the status line)`,
      );
  });
  broker.on('disconnected', () => print('broker disconnected; reconnecting'));
  broker.on('reconnected', () => print('broker reconnected'));

  let readiness: Readiness = 'starting';
  const app = buildHttpApp({ broker, metrics, readiness: () => readiness });
  const counters: HandlerCounters = { handled: 0, failed: 0 };
  const handler = createWorkHandler({
    work: config.work,
    failureRate: config.failureRate,
    counters,
    recorder,
  });
  const retry =
    config.attempts !== undefined || config.backoffMs !== undefined
      ? {
          attempts: config.attempts,
          backoff: config.backoffMs !== undefined ? { initialMs: config.backoffMs } : undefined,
        }
      : undefined;
  const subscriptions: Subscription[] = [];
  let reporter: NodeJS.Timeout | undefined;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      readiness = 'draining';
      if (reporter) clearInterval(reporter);
      try {
        await broker.close(); // closes the subscriptions first, awaiting in-flight handlers
      } finally {
        await recorder?.close();
        await app.close();
      }
    })());

  try {
    for (const s of config.subscriptions) {
      const common = { concurrency: config.concurrency, retry };
      subscriptions.push(
        s.kind === 'queue'
          ? await broker.consume(s.queue, handler, common)
          : await broker.subscribe(s.pattern, handler, {
              ...common,
              group: s.kind === 'group' ? s.group : undefined,
            }),
      );
    }
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  if (config.reportEverySec > 0) {
    let last = { handled: 0, failed: 0, at: Date.now() };
    reporter = setInterval(() => {
      if (counters.handled === last.handled && counters.failed === last.failed) return;
      const now = Date.now();
      const secs = (now - last.at) / 1000;
      const errors = [...errorsByCode].map(([code, n]) => `${code} ${n}`).join(', ');
      print(
        `handled ${counters.handled} (${((counters.handled - last.handled) / secs).toFixed(1)}/s), ` +
          `failed attempts ${counters.failed} (${((counters.failed - last.failed) / secs).toFixed(1)}/s)` +
          (errors ? `, broker errors: ${errors}` : ''),
      );
      last = { handled: counters.handled, failed: counters.failed, at: now };
    }, config.reportEverySec * 1000);
    reporter.unref();
  }

  readiness = 'ready';
  print(`listening on ${url} (/metrics, /readyz, /healthz)`);
  print(
    `ready: ${subscriptions.length} subscription(s) on ${redactUrl(config.url)}: ${config.subscriptions.map(describeSubscription).join(', ')}`,
  );
  // A publisher in another process on its own default memory:// can never reach this one.
  if (config.url.trim().startsWith('memory:'))
    print('note: memory:// is in-process: use --url amqp://… or --url nats://… to connect two processes');
  return { broker, metrics, app, url, counters, close };
}
