#!/usr/bin/env node
/**
 * The `brokerkit-publish` bin. SIGINT/SIGTERM stop starting new publishes; those in flight settle
 * and the summary still prints (exit 130 when something was left unsent).
 */
import { main } from './cli-main.js';

const controller = new AbortController();
const stop = (): void => controller.abort();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  });
  process.exit(code);
} catch (error) {
  process.stderr.write(`brokerkit-publish: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
