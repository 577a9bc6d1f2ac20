/**
 * The Grafana dashboard without Grafana: valid JSON with the panels and variables of issue 8, a
 * layout without overlaps, every query parsed by promtool (as recording rules), and every metric
 * name a query or alert uses is one that @brokerkit/metrics exports (docs/architecture.md#metrics-and-admin).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { requireTool, ROOT, run } from './tools.js';

const PROMTOOL = '/usr/bin/promtool';
const DASHBOARD = join(ROOT, 'monitoring/grafana/dashboards/brokerkit.json');
const ALERTS = join(ROOT, 'monitoring/prometheus/alerts.yml');

/** docs/architecture.md#metrics-and-admin, plus the collector's own error counter. Histograms add _bucket, _sum and _count. */
const COUNTERS_AND_GAUGES = [
  'brokerkit_messages_published_total',
  'brokerkit_publish_errors_total',
  'brokerkit_messages_consumed_total',
  'brokerkit_queue_depth',
  'brokerkit_queue_in_flight',
  'brokerkit_queue_consumers',
  'brokerkit_connection_up',
  'brokerkit_reconnects_total',
  'brokerkit_inspector_errors_total',
];
const HISTOGRAMS = [
  'brokerkit_publish_duration_seconds',
  'brokerkit_process_duration_seconds',
  'brokerkit_delivery_lag_seconds',
];
const KNOWN_METRICS = new Set([
  ...COUNTERS_AND_GAUGES,
  ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
]);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query: unknown; includeAll?: boolean; multi?: boolean }[];
  };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, ...x })));

/** Grafana's variables as Grafana substitutes them with "All" selected. */
const substitute = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '1h')
    .replaceAll('$broker', '.*')
    .replaceAll('$queue', '.*');

/** Metric names in a PromQL expression (label names and functions never start with brokerkit_). */
const metricNames = (expr: string) => [...expr.matchAll(/\bbrokerkit_[a-z_]+\b/g)].map((m) => m[0]);

t.test('the dashboard identifies itself and has the variables of issue 8', async (t) => {
  t.equal(dashboard.uid, 'brokerkit-overview');
  t.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  t.equal(vars.datasource?.type, 'datasource', 'a data source variable, so an import asks for one');
  for (const name of ['broker', 'queue']) {
    t.equal(vars[name]?.type, 'query', `$${name} is a query variable`);
    t.ok(vars[name]?.includeAll && vars[name]?.multi, `$${name} is multi-select with All`);
  }
});

t.test('the panels of issue 8 are there', async (t) => {
  const titles = queryPanels.map((p) => p.title.toLowerCase());
  const wanted = [
    'published per destination',
    'consumed per destination',
    'consumed by outcome',
    'queue depth',
    'in flight',
    'dead-letter depth',
    'publish confirm latency',
    'handler latency',
    'delivery lag',
    'connection status',
    'reconnects',
  ];
  for (const title of wanted) t.ok(titles.includes(title), title);
  for (const title of ['publish confirm latency', 'handler latency', 'delivery lag']) {
    const exprs = (queryPanels.find((p) => p.title.toLowerCase() === title)?.targets ?? []).map(
      (x) => x.expr,
    );
    t.ok(
      exprs.some((e) => e.startsWith('histogram_quantile(0.5,')),
      `${title}: p50`,
    );
    t.ok(
      exprs.some((e) => e.startsWith('histogram_quantile(0.99,')),
      `${title}: p99`,
    );
  }
});

t.test('panel ids are unique, every panel queries the data source variable', async (t) => {
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'unique ids');
  for (const p of queryPanels) {
    t.equal(p.datasource?.uid, '${datasource}', `${p.title}: data source`);
    const refIds = (p.targets ?? []).map((x) => x.refId);
    t.ok(refIds.length > 0, `${p.title}: has queries`);
    t.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
  }
});

t.test('the layout fits 24 columns without overlaps', async (t) => {
  const cells = new Map<string, string>();
  const overlaps: string[] = [];
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos;
    t.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title}: within 24 columns`);
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const other = cells.get(`${row}:${col}`);
        if (other) overlaps.push(`${p.title} / ${other}`);
        cells.set(`${row}:${col}`, p.title);
      }
    }
  }
  t.same([...new Set(overlaps)], [], 'no overlapping panels');
});

t.test('queries and alerts only use metrics that @brokerkit/metrics exports', async (t) => {
  const rules = parse(readFileSync(ALERTS, 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const uses = [
    ...targets.map((x) => ({ where: `${x.panel} [${x.refId}]`, expr: x.expr })),
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: r.alert, expr: r.expr }))),
    ...dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `$${v.name}`, expr: JSON.stringify(v.query) })),
  ];
  for (const { where, expr } of uses) {
    const unknown = metricNames(expr).filter((m) => !KNOWN_METRICS.has(m));
    t.same(unknown, [], `${where}: ${metricNames(expr).join(', ') || 'no brokerkit metric'}`);
  }
  const used = new Set(uses.flatMap((u) => metricNames(u.expr)));
  for (const metric of [...COUNTERS_AND_GAUGES.filter((m) => m !== 'brokerkit_inspector_errors_total')]) {
    t.ok(used.has(metric), `${metric} is on the dashboard or in an alert`);
  }
  for (const h of HISTOGRAMS) t.ok(used.has(`${h}_bucket`), `${h} is on the dashboard`);
});

t.test('promtool parses every panel query', async (t) => {
  if (!requireTool(t, PROMTOOL, 'prometheus')) return;
  const dir = mkdtempSync(join(tmpdir(), 'bk-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // One recording rule per query: `promtool check rules` parses each expression.
  const file = join(dir, 'panels.rules.json');
  const rules = targets.map((x, i) => ({ record: `dashboard:query_${i}`, expr: substitute(x.expr) }));
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = await run(PROMTOOL, ['check', 'rules', file]);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, `SUCCESS: ${rules.length} rules found`);
});
