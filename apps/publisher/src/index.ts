/**
 * @brokerkit/publisher — the `brokerkit-publish` CLI and its parts, exported so other tools and
 * tests can publish load without a child process.
 *
 * @packageDocumentation
 */
export { main, EXIT, MEMORY_NOTE, type CliIo } from './cli-main.js';
export { parsePublisherArgs, USAGE, type PublisherConfig, type EventInput, type ParsedArgs } from './args.js';
export { parseNdjson, type OutgoingEvent, type NdjsonOptions } from './ndjson.js';
export { generatedSource, listSource, type EventSource } from './payload.js';
export { runPublisher, type RunOptions, type PublishStats, type PublishSummary } from './run.js';
export { formatSummary, barReporter, lineReporter, type ProgressReporter } from './report.js';
export { createLatencyRecorder, type LatencyRecorder, type LatencySummary } from './latency.js';
export { UsageError } from './errors.js';
