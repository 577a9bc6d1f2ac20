/**
 * What the admin and the demo print when they cannot start: one line naming the variable and the
 * problem, and the CLIs' exit codes — 2 for a bad setting (nothing can succeed until it is
 * changed), 1 for a failure that may pass (the broker is down, the port is taken). Never a stack
 * trace: those are for bugs.
 */
import { isBrokerkitError, redactUrl } from '@brokerkit/core';

/** Exit codes shared with `brokerkit-publish` and `brokerkit-subscribe`. */
export const EXIT_CODES = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** The line to print and the code to exit with. */
export interface StartupFailure {
  readonly line: string;
  readonly exitCode: number;
}

const reason = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `${message} [${code}]` : message;
};

/** A setting read from the environment was refused (`configFromEnv` names the variable). */
export function configFailure(error: unknown): StartupFailure {
  return { line: reason(error).replace(/\s+/g, ' '), exitCode: EXIT_CODES.usage };
}

/** `connect(BROKER_URL)` failed: a bad URL or unknown scheme is a usage error, an outage is not. */
export function connectFailure(error: unknown, url: string): StartupFailure {
  const usage = isBrokerkitError(error, 'BK_VALIDATION') || isBrokerkitError(error, 'BK_CONFIG');
  // An outage's message names the node already; a refused URL is shown (redacted) when it parses.
  const shown = !usage || redactUrl(url) === '<invalid url>' ? '' : `=${redactUrl(url)}`;
  return {
    line: `BROKER_URL${shown}: ${reason(error)}`.replace(/\s+/g, ' '),
    exitCode: usage ? EXIT_CODES.usage : EXIT_CODES.failed,
  };
}

/** `listen` failed (`EADDRINUSE`, `EACCES`, a host that does not resolve). */
export function listenFailure(error: unknown, host: string, port: number): StartupFailure {
  const code = (error as { code?: unknown } | null)?.code;
  const what = code === 'EADDRINUSE' ? `port ${port} is in use` : reason(error);
  return {
    line: `cannot listen on ${host}:${port} (ADMIN_HOST / ADMIN_PORT): ${what}`.replace(/\s+/g, ' '),
    exitCode: EXIT_CODES.failed,
  };
}
