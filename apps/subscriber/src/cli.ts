#!/usr/bin/env node
/** The `brokerkit-subscribe` bin: see `--help`. SIGTERM/SIGINT drain in-flight handlers, then exit 0. */
import { main } from './cli-main.js';

try {
  const code = await main(process.argv.slice(2), {
    env: process.env,
    print: (line) => process.stdout.write(`${line}\n`),
    printError: (line) => process.stderr.write(`${line}\n`),
    onSignal: (stop) => {
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    },
  });
  process.exit(code);
} catch (error) {
  process.stderr.write(`brokerkit-subscribe: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
