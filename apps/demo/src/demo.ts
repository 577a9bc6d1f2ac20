/**
 * The embedded demo behind `npm start`: one process with a publisher emitting sample order
 * events, two fan-out groups (`billing`, `shipping`), a work-queue worker that fails now and then
 * (so retries and dead letters show), and the admin API with /metrics on top.
 */
import { PermanentError, connect, type Broker, type Message, type Subscription } from '@brokerkit/core';

/** Demo settings; every field has a default suitable for a laptop. */
export interface DemoOptions {
  /** Broker URL. Default `BROKER_URL` or `memory://`. */
  url?: string;
  /** Order events per second. Default 20. */
  rate?: number;
  /** Share of email jobs whose handler throws (0..1). Default 0.1. */
  failureRate?: number;
  /** Share of email jobs that are permanently bad (dead-lettered at once). Default 0.02. */
  poisonRate?: number;
  /** Prints a status line every `reportEveryMs`; 0 = never. Default 5000. */
  reportEveryMs?: number;
  /** Where status lines go. Default console.log. */
  print?: (line: string) => void;
}

/** Topics the demo publishes order events to. */
export const DEMO_TOPICS = { created: 'orders.created', paid: 'orders.paid' } as const;
/** The two fan-out groups: every order event reaches both. */
export const DEMO_GROUPS = { billing: 'billing', shipping: 'shipping' } as const;
/** The work queue of email jobs (one per order), whose worker fails now and then. */
export const DEMO_QUEUE = 'emails';

/** Counters the demo keeps, also used by its tests. */
export interface DemoCounters {
  published: number;
  publishFailed: number;
  billing: number;
  shipping: number;
  emailsSent: number;
  emailsFailed: number;
}

/** A running demo. */
export interface RunningDemo {
  readonly broker: Broker;
  readonly counters: Readonly<DemoCounters>;
  /** Stop publishing, drain the consumers, close the broker. Idempotent. */
  close(): Promise<void>;
}

interface OrderEvent {
  orderId: string;
  customer: string;
  amount: number;
  currency: string;
}

interface EmailJob {
  orderId: string;
  to: string;
  template: string;
}

const CUSTOMERS = ['ada', 'grace', 'linus', 'barbara', 'ken', 'margaret'];

/** Start the demo on an existing broker or a new connection. */
export async function startDemo(options: DemoOptions = {}, existing?: Broker): Promise<RunningDemo> {
  const rate = options.rate ?? 20;
  const failureRate = options.failureRate ?? 0.1;
  const poisonRate = options.poisonRate ?? 0.02;
  const print = options.print ?? ((line: string) => console.log(line));
  const broker = existing ?? (await connect(options.url));
  const counters: DemoCounters = {
    published: 0,
    publishFailed: 0,
    billing: 0,
    shipping: 0,
    emailsSent: 0,
    emailsFailed: 0,
  };
  const subscriptions: Subscription[] = [];

  subscriptions.push(
    await broker.subscribe<OrderEvent>(
      'orders.>',
      () => {
        counters.billing++;
      },
      { group: DEMO_GROUPS.billing, concurrency: 4 },
    ),
    await broker.subscribe<OrderEvent>(
      'orders.created',
      async () => {
        counters.shipping++;
      },
      { group: DEMO_GROUPS.shipping },
    ),
    await broker.consume<EmailJob>(
      DEMO_QUEUE,
      (msg: Message<EmailJob>) => {
        // A poison job can never succeed: PermanentError sends it to emails.dlq without retries.
        if (msg.data.template === 'broken') throw new PermanentError(`template "broken" does not exist`);
        if (Math.random() < failureRate) {
          counters.emailsFailed++;
          throw new Error('SMTP server busy (simulated)');
        }
        counters.emailsSent++;
      },
      { concurrency: 8, retry: { attempts: 3, backoff: { initialMs: 500, maxMs: 5_000 } } },
    ),
  );

  // One tick every 100 ms publishes rate/10 orders (rounded with carry) instead of one timer per message.
  let seq = 0;
  let carry = 0;
  let inFlight = 0;
  const publishOne = async (): Promise<void> => {
    const n = ++seq;
    const order: OrderEvent = {
      orderId: `o-${n}`,
      customer: CUSTOMERS[n % CUSTOMERS.length]!,
      amount: Math.round(Math.random() * 20_000) / 100,
      currency: 'EUR',
    };
    const poison = Math.random() < poisonRate;
    inFlight++;
    try {
      await Promise.all([
        broker.publish(n % 3 === 0 ? DEMO_TOPICS.paid : DEMO_TOPICS.created, order),
        broker.send(DEMO_QUEUE, {
          orderId: order.orderId,
          to: `${order.customer}@example.com`,
          template: poison ? 'broken' : 'receipt',
        }),
      ]);
      counters.published++;
    } catch {
      counters.publishFailed++;
    } finally {
      inFlight--;
    }
  };
  const ticker = setInterval(() => {
    // Back-pressure: skip a tick rather than pile up publishes while the broker is away; the
    // skipped share is dropped, not saved up, so an outage does not end in a burst.
    if (inFlight > rate * 5) return;
    carry += rate / 10;
    for (; carry >= 1; carry--) void publishOne();
  }, 100);

  let last = { ...counters, at: Date.now() };
  const reporter =
    (options.reportEveryMs ?? 5000) > 0
      ? setInterval(() => {
          const now = Date.now();
          const secs = (now - last.at) / 1000;
          const per = (k: keyof DemoCounters) => ((counters[k] - last[k]) / secs).toFixed(1);
          print(
            `published ${per('published')}/s  billing ${per('billing')}/s  shipping ${per('shipping')}/s  ` +
              `emails ${per('emailsSent')}/s (failures ${per('emailsFailed')}/s)  total published ${counters.published}`,
          );
          last = { ...counters, at: now };
        }, options.reportEveryMs ?? 5000)
      : undefined;

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    clearInterval(ticker);
    if (reporter) clearInterval(reporter);
    await Promise.allSettled(subscriptions.map((s) => s.close()));
    if (!existing) await broker.close();
  };
  return {
    broker,
    counters,
    close: () => (closing ??= close()),
  };
}
