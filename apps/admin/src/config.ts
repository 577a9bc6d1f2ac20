/** Admin configuration: defaults, and reading it from the environment (`server.ts` only). */
import { ValidationError } from '@brokerkit/core';

/** Everything `buildApp` needs to know besides the broker. */
export interface AdminConfig {
  /** Interface to bind. Default `127.0.0.1` (not exposed beyond the host unless asked). */
  host: string;
  /** Port. Default 3000. */
  port: number;
  /** Bearer token of the mutating routes; unset = those routes answer 403. */
  token: string | undefined;
  /** Largest request body accepted, bytes. Default 16 KiB (the API takes tiny JSON bodies). */
  bodyLimit: number;
  /** Mutating requests allowed per client per window. Default 30 per minute. */
  rateLimit: { max: number; timeWindowMs: number };
  /** How often the status page refreshes, ms. Default 2000. */
  statusRefreshMs: number;
  /** pino log level, or false to disable logging. Default `info`. */
  logLevel: string | false;
}

/** The defaults, for tests and embedding: `{ ...defaultConfig(), token: 't' }`. */
export function defaultConfig(): AdminConfig {
  return {
    host: '127.0.0.1',
    port: 3000,
    token: undefined,
    bodyLimit: 16 * 1024,
    rateLimit: { max: 30, timeWindowMs: 60_000 },
    statusRefreshMs: 2000,
    logLevel: 'info',
  };
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) {
    throw new ValidationError(`ADMIN_PORT must be an integer 0..65535, got "${value}"`);
  }
  return n;
}

/**
 * Read `ADMIN_HOST`, `ADMIN_PORT`, `ADMIN_TOKEN` and `LOG_LEVEL` from `env` over the defaults.
 * `BROKER_URL` is read by `connect()` itself.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const config = defaultConfig();
  if (env.ADMIN_HOST) config.host = env.ADMIN_HOST;
  if (env.ADMIN_PORT) config.port = port(env.ADMIN_PORT);
  if (env.ADMIN_TOKEN) config.token = env.ADMIN_TOKEN;
  if (env.LOG_LEVEL) config.logLevel = env.LOG_LEVEL;
  return config;
}
