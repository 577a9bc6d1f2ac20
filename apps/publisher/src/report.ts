/**
 * What the publisher prints: a progress bar on a terminal, a plain line per interval otherwise
 * (logs, CI), and the closing summary.
 */
import cliProgress from 'cli-progress';
import type { PublishStats, PublishSummary } from './run.js';

/** Receives live counters; `stop()` ends the display before the summary is printed. */
export interface ProgressReporter {
  readonly everyMs: number;
  update(stats: Readonly<PublishStats>): void;
  stop(): void;
}

const fixed = (n: number, digits = 1): string => n.toFixed(digits);

/** A cli-progress bar on `stream` (a TTY). */
export function barReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        '{bar} {percentage}% | {value}/{total} confirmed | {failed} failed | {rate} msg/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    everyMs: 100,
    update(stats) {
      const payload = {
        failed: stats.failed,
        rate: fixed((stats.confirmed * 1000) / Math.max(1, stats.elapsedMs()), 0),
      };
      if (!started) {
        bar.start(stats.total, 0, payload);
        started = true;
      }
      bar.update(stats.confirmed + stats.failed, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** One plain line per interval, for logs and pipes. */
export function lineReporter(write: (line: string) => void, everyMs = 1000): ProgressReporter {
  let lastDone = -1;
  return {
    everyMs,
    update(stats) {
      const done = stats.confirmed + stats.failed;
      if (done === lastDone) return; // nothing new: don't repeat the same line
      lastDone = done;
      const secs = stats.elapsedMs() / 1000;
      write(
        `progress: ${done}/${stats.total} settled (${stats.confirmed} confirmed, ${stats.failed} failed, ` +
          `${stats.sent - done} in flight) ${fixed(secs)} s, ${fixed(stats.confirmed / Math.max(secs, 0.001), 0)} msg/s`,
      );
    },
    stop() {},
  };
}

/** The closing summary as text lines. */
export function formatSummary(summary: PublishSummary, mode: 'publish' | 'send'): string {
  const verb = mode === 'send' ? 'sent to queue' : 'published';
  const lines = [
    `${verb}: ${summary.sent} of ${summary.total} attempted, ${summary.confirmed} confirmed, ${summary.failed} failed` +
      (summary.unsent > 0 ? `, ${summary.unsent} not sent (interrupted)` : ''),
    `throughput: ${fixed(summary.ratePerSec)} msg/s over ${fixed(summary.elapsedMs / 1000, 2)} s`,
  ];
  const l = summary.latencyMs;
  lines.push(
    l.p50 === null
      ? 'confirm latency: n/a (nothing confirmed)'
      : `confirm latency: p50 ${fixed(l.p50, 2)} ms, p99 ${fixed(l.p99!, 2)} ms, max ${fixed(l.max!, 2)} ms`,
  );
  const codes = Object.keys(summary.failures).sort();
  if (codes.length > 0) {
    lines.push('failures:');
    for (const code of codes)
      lines.push(`  ${code}: ${summary.failures[code]} (e.g. ${summary.examples[code]})`);
  }
  return lines.join('\n');
}
