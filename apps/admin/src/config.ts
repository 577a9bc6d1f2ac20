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
  /** Authorised mutating requests allowed per client per window. Default 30 per minute. */
  rateLimit: { max: number; timeWindowMs: number };
  /**
   * Failed authorisations (missing or wrong token) allowed per client per window, counted apart
   * from `rateLimit`; further failures answer 429, the right token still passes. Default 10 per minute.
   */
  authFailureLimit: { max: number; timeWindowMs: number };
  /** How often the status page refreshes (and its chart history samples), ms. Default 2000. */
  statusRefreshMs: number;
  /** How far back the status page's charts reach, ms. Default 10 minutes. */
  statusHistoryMs: number;
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
    authFailureLimit: { max: 10, timeWindowMs: 60_000 },
    statusRefreshMs: 2000,
    statusHistoryMs: 10 * 60_000,
    logLevel: 'info',
  };
}

/** Shortest `ADMIN_TOKEN` accepted: guessing, not the failure limit, is what its length defeats. */
export const MIN_TOKEN_LENGTH = 16;

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) {
    throw new ValidationError(`ADMIN_PORT must be an integer 0..65535, got "${value}"`);
  }
  return n;
}

function token(value: string): string {
  if (value.length < MIN_TOKEN_LENGTH || /\s/.test(value)) {
    throw new ValidationError(
      `ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. $(openssl rand -hex 24)), got ${value.length}`,
    );
  }
  return value;
}

/**
 * Read `ADMIN_HOST`, `ADMIN_PORT`, `ADMIN_TOKEN` and `LOG_LEVEL` from `env` over the defaults.
 * `BROKER_URL` is read by `connect()` itself. Throws `ValidationError` naming the variable.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const config = defaultConfig();
  if (env.ADMIN_HOST) config.host = env.ADMIN_HOST;
  if (env.ADMIN_PORT) config.port = port(env.ADMIN_PORT);
  if (env.ADMIN_TOKEN) config.token = token(env.ADMIN_TOKEN);
  if (env.LOG_LEVEL) config.logLevel = env.LOG_LEVEL;
  return config;
}
