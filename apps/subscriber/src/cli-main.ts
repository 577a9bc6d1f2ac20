/**
 * `brokerkit-subscribe` as a function: parse config, start the service, and on SIGTERM/SIGINT drain
 * it. The bin (`cli.ts`) only wires it to the process.
 */
import { ConfigError, parseSubscriberConfig, USAGE } from './config.js';
import { startSubscriber, type SubscriberService } from './service.js';

/** Exit codes of the service. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** Process hooks the CLI needs; the real process by default. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly print: (line: string) => void;
  readonly printError: (line: string) => void;
  /** Calls `stop` on the first shutdown signal. */
  readonly onSignal: (stop: (signal: string) => void) => void;
}

/**
 * Run the service until a signal; resolves with the exit code: 0 after a clean drain, 1 when
 * start-up failed or the drain outlasted `--drain-timeout`, 2 for bad flags.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseSubscriberConfig(argv, io.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.printError(`brokerkit-subscribe: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  }
  if (parsed.help) {
    io.print(USAGE);
    return EXIT.ok;
  }
  const config = parsed;
  // A signal during start-up must still stop the service once it is up.
  let signalled: string | undefined;
  let onStop: ((signal: string) => void) | undefined;
  io.onSignal((signal) => {
    signalled ??= signal;
    onStop?.(signal);
  });

  let service: SubscriberService;
  try {
    service = await startSubscriber(config, { print: io.print });
  } catch (error) {
    const code = (error as { code?: string }).code;
    io.printError(
      `brokerkit-subscribe: cannot start: ${(error as Error).message}${code ? ` [${code}]` : ''}`,
    );
    return code === 'BK_VALIDATION' || code === 'BK_CONFIG' ? EXIT.usage : EXIT.failed;
  }

  const signal = await new Promise<string>((resolve) => {
    onStop = resolve;
    if (signalled) resolve(signalled);
  });
  io.print(`${signal}: draining in-flight handlers (up to ${config.drainTimeoutMs} ms)`);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), config.drainTimeoutMs);
  });
  const result = await Promise.race([service.close().then(() => 'drained' as const), timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    io.printError(`brokerkit-subscribe: drain did not finish within ${config.drainTimeoutMs} ms; exiting`);
    return EXIT.failed;
  }
  io.print(
    `stopped cleanly: handled ${service.counters.handled}, failed attempts ${service.counters.failed}`,
  );
  return EXIT.ok;
}
