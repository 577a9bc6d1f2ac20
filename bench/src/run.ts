/**
 * `npm run bench [-- suite...]`: run every scenario one at a time, print a table with ratios
 * against each workload's baseline, and write the results as JSON to bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement, Scenario } from './harness.js';
import { scenarios as memory } from './memory.js';
import { scenarios as rabbitmq } from './rabbitmq.js';
import { scenarios as rabbitmqCluster } from './rabbitmq-cluster.js';
import { scenarios as nats } from './nats.js';
import { scenarios as natsCluster } from './nats-cluster.js';
import { scenarios as redis } from './redis.js';
import { scenarios as admin } from './admin.js';
import { scenarios as requestReply } from './request-reply.js';
import { scenarios as tracing } from './tracing.js';

interface Row {
  suite: string;
  workload: string;
  subject: string;
  result?: Measurement;
  skipped?: string;
  error?: string;
  ratio?: number;
  ratioOf?: string;
  /** Throughput ratio against the scenario's `alsoComparedWith`. */
  ratio2?: number;
  ratio2Of?: string;
  /** p50 latency added over the baseline (ms), where both measured one. */
  addedP50Ms?: number;
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return '';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const all: Scenario[] = [
    ...memory,
    ...rabbitmq,
    ...rabbitmqCluster,
    ...nats,
    ...natsCluster,
    ...redis,
    ...tracing,
    ...admin,
    ...requestReply,
  ];
  const selected = filters.length
    ? all.filter((s) => filters.some((f) => s.suite === f || s.workload.includes(f)))
    : all;
  const rows: Row[] = [];
  for (const scenario of selected) {
    const row: Row = { suite: scenario.suite, workload: scenario.workload, subject: scenario.subject };
    rows.push(row);
    const missing: string[] = [];
    for (const r of scenario.requires ?? []) if (!(await reachable(r.host, r.port))) missing.push(r.name);
    if (missing.length) {
      row.skipped = `${missing.join(', ')} not reachable`;
      console.error(`skip  ${scenario.workload} / ${scenario.subject}: ${row.skipped}`);
      continue;
    }
    process.stderr.write(`run   ${scenario.workload} / ${scenario.subject} ... `);
    try {
      global.gc?.();
      row.result = await scenario.run();
      process.stderr.write(`${fmt(row.result.perSecond)} /s\n`);
    } catch (error) {
      row.error = error instanceof Error ? error.message : String(error);
      process.stderr.write(`failed: ${row.error}\n`);
    }
  }
  // Ratios: throughput is subject / baseline (higher is better), also against a second subject
  // where the scenario names one; latency as p50 added over the baseline (lower is better).
  for (const row of rows) {
    const scenario = selected.find((s) => s.workload === row.workload && s.subject === row.subject);
    if (!scenario?.baseline || !row.result?.perSecond) continue;
    const base = rows.find((r) => r.workload === row.workload && r.subject === scenario.baseline);
    if (base?.result?.perSecond) {
      row.ratio = row.result.perSecond / base.result.perSecond;
      row.ratioOf = scenario.baseline;
    }
    if (base?.result?.p50Ms !== undefined && row.result.p50Ms !== undefined)
      row.addedP50Ms = row.result.p50Ms - base.result.p50Ms;
    const other = scenario.alsoComparedWith;
    const base2 = other && rows.find((r) => r.workload === row.workload && r.subject === other);
    if (base2 && base2.result?.perSecond) {
      row.ratio2 = row.result.perSecond / base2.result.perSecond;
      row.ratio2Of = other;
    }
  }
  const header = [
    'workload',
    'subject',
    'msgs',
    'msg/s',
    'ratio',
    'p50 ms',
    '+p50 ms',
    'p99 ms',
    'peak RSS MiB',
    'notes',
  ];
  const table = rows.map((r) => [
    r.workload,
    r.subject,
    fmt(r.result?.messages),
    fmt(r.result?.perSecond),
    [
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)} vs ${r.ratioOf}`,
      r.ratio2 === undefined ? '' : `${r.ratio2.toFixed(2)} vs ${r.ratio2Of}`,
    ]
      .filter(Boolean)
      .join('; '),
    fmt(r.result?.p50Ms, 2),
    r.addedP50Ms === undefined ? '' : `${r.addedP50Ms >= 0 ? '+' : ''}${r.addedP50Ms.toFixed(3)}`,
    fmt(r.result?.p99Ms, 2),
    fmt(r.result?.peakRssMiB, 0),
    r.skipped ? `skipped: ${r.skipped}` : r.error ? `error: ${r.error}` : (r.result?.notes ?? ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of table) console.log(line(row));

  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify({ at: new Date().toISOString(), node: process.version, rows }, null, 2);
  writeFileSync(path.join(dir, `bench-${stamp}.json`), json);
  writeFileSync(path.join(dir, 'latest.json'), json);
  console.log(`\nresults: ${path.relative(process.cwd(), path.join(dir, 'latest.json'))}`);
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

await main();
// Exit when the table is out: a scenario's leftover handle (a private server, a client a failed
// round could not close) must not keep `npm run bench` waiting.
process.exit();
