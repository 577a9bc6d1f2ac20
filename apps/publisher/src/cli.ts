#!/usr/bin/env node
/**
 * The `brokerkit-publish` bin. SIGINT/SIGTERM stop starting new publishes; those in flight settle
 * and the summary still prints (exit 130 when something was left unsent).
 */
import { startOtlpTracing, type OtlpTracing } from '@brokerkit/admin/otel';
import { main } from './cli-main.js';

const controller = new AbortController();
const stop = (): void => controller.abort();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

// OTLP export only when OTEL_EXPORTER_OTLP_ENDPOINT is set (see @brokerkit/admin/otel); started
// before main connects so the first publish is traced, shut down after main has closed the broker.
let tracing: OtlpTracing | undefined;
try {
  tracing = await startOtlpTracing('brokerkit-publisher');
} catch (error) {
  process.stderr.write(`brokerkit-publish: cannot start OTLP trace export: ${(error as Error).message}\n`);
  process.exit(2);
}

try {
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  });
  await tracing?.shutdown();
  process.exit(code);
} catch (error) {
  process.stderr.write(`brokerkit-publish: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
