/**
 * The demo's environment settings and start-up banner, kept apart from the entry point so they
 * are testable.
 */

/** Settings read from the environment (the admin's own, ADMIN_*, are read by `@brokerkit/admin`). */
export interface DemoSettings {
  /** Order events per second. */
  readonly rate: number;
  readonly failureRate: number;
  readonly poisonRate: number;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Read DEMO_RATE, DEMO_FAILURE_RATE, DEMO_POISON_RATE. Throws naming the variable. */
export function demoSettings(env: NodeJS.ProcessEnv): DemoSettings {
  return {
    rate: num(env, 'DEMO_RATE', 20, 0.1, 100_000),
    failureRate: num(env, 'DEMO_FAILURE_RATE', 0.1, 0, 1),
    poisonRate: num(env, 'DEMO_POISON_RATE', 0.02, 0, 1),
  };
}

/** The start-up banner listing what runs and the URLs to open. */
export function formatBanner(options: {
  brokerUrl: string;
  host: string;
  port: number;
  settings: DemoSettings;
  /** The admin token made for this run, when `ADMIN_TOKEN` was not set. */
  generatedToken?: string;
}): string {
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${options.port}`;
  const pct = (n: number) => `${Math.round(n * 1000) / 10} %`;
  return [
    '',
    `brokerkit demo running on ${options.brokerUrl}`,
    `  publisher: ${options.settings.rate} order events/s (orders.created, orders.paid) + one email job each`,
    '  groups:    billing (orders.>), shipping (orders.created)',
    `  worker:    queue emails, ${pct(options.settings.failureRate)} failures (retried), ${pct(options.settings.poisonRate)} poison (dead-lettered to emails.dlq)`,
    '',
    `  status page   ${base}/`,
    `  queues (JSON) ${base}/api/queues`,
    `  metrics       ${base}/metrics`,
    `  API docs      ${base}/docs`,
    `  readiness     ${base}/readyz`,
    '',
    options.generatedToken
      ? `  admin token   ${options.generatedToken} (made for this run: set ADMIN_TOKEN to choose one)`
      : '  admin token   from ADMIN_TOKEN',
    '',
    '  Ctrl-C to stop',
    '',
  ].join('\n');
}
