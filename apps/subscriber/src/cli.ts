#!/usr/bin/env node
/** The `brokerkit-subscribe` bin: see `--help`. SIGTERM/SIGINT drain in-flight handlers, then exit 0. */
import { startOtlpTracing, type OtlpTracing } from '@brokerkit/admin/otel';
import { main } from './cli-main.js';

// OTLP export only when OTEL_EXPORTER_OTLP_ENDPOINT is set (see @brokerkit/admin/otel); started
// before main connects so the first publish is traced, shut down after main has closed the broker.
let tracing: OtlpTracing | undefined;
try {
  tracing = await startOtlpTracing('brokerkit-subscriber');
} catch (error) {
  process.stderr.write(`brokerkit-subscribe: cannot start OTLP trace export: ${(error as Error).message}\n`);
  process.exit(2);
}

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
  await tracing?.shutdown();
  process.exit(code);
} catch (error) {
  process.stderr.write(`brokerkit-subscribe: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
