/**
 * End to end with a real Prometheus: the `npm start` demo runs as a child process, a Prometheus
 * (Debian `prometheus`, free port, temporary TSDB) scrapes it every second with the shipped
 * monitoring/prometheus/prometheus-demo.yml (only target and intervals changed) and alerts.yml.
 * Every Grafana panel and variable query and every alert expression must parse, the panel
 * queries must return series, and `promtool check metrics` must accept the demo's /metrics.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@brokerkit/contract-tests';
import t from 'tap';
import { parse } from 'yaml';
import { freePort, requireTool, ROOT, run, startDaemon } from './tools.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const DEMO_MAIN = join(ROOT, 'apps/demo/dist/main.js');
const PROM_DIR = join(ROOT, 'monitoring/prometheus');
const DASHBOARD = join(ROOT, 'monitoring/grafana/dashboards/brokerkit.json');
// The demo's queues (apps/demo): two fan-out groups and one work queue with dead letters.
const DEMO_QUEUES = ['billing', 'emails', 'shipping'];
const DEMO_QUEUE = 'emails';
// Targets that are empty while nothing goes wrong (no publish error, no reconnect in the demo).
const MAY_BE_EMPTY = new Set<string>([]);
// Under CI the machine is shared with the rest of the suite; a cold demo plus a few scrapes
// normally take ~5 s.
const DEADLINE_MS = 90_000;

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}
interface PromResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}
interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}
interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}
interface RuleGroup {
  name: string;
  rules: { name: string; query: string; health: string; lastError?: string; lastEvaluation: string }[];
}

/** Grafana's built-in and template variables, replaced as Grafana would with "All" selected. */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '10s')
    .replaceAll('$__interval', '2s')
    .replaceAll('$__range', '1m')
    .replaceAll('$broker', '.*')
    .replaceAll('$queue', '.*');
}

/** `label_values(selector, label)` is Grafana's; the PromQL with the same answer. */
function variableQuery(query: string): string {
  const m = /^label_values\((.*),\s*(\w+)\)$/s.exec(query.trim());
  return m ? `count by (${m[2]}) (${m[1]})` : query;
}

function panelTargets(panels: Panel[]): { panel: string; expr: string }[] {
  return panels.flatMap((p) => [
    ...(p.targets ?? []).map((target) => ({ panel: `${p.title} [${target.refId}]`, expr: target.expr })),
    ...panelTargets(p.panels ?? []),
  ]);
}

/** The stalled-consumer join of alerts.yml, without its depth and age conditions. */
function consumedJoin(rules: RuleFile): string {
  const stalled = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'BrokerkitConsumerStalled');
  if (!stalled) throw new Error('alerts.yml has no BrokerkitConsumerStalled');
  // Every queue, empty or not, over the short history the test has.
  const withoutDepthFloor = stalled.expr.replace(/(brokerkit_queue_depth\{[^}]*\}\)?)\s*>\s*0/, '$1');
  if (withoutDepthFloor === stalled.expr)
    throw new Error('BrokerkitConsumerStalled has no depth > 0 condition');
  return withoutDepthFloor.replaceAll('[5m]', '[15s]');
}

if (requireTool(t, PROMETHEUS, 'prometheus') && requireTool(t, PROMTOOL, 'prometheus')) {
  const adminPort = await freePort();
  const promPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const prom = `http://127.0.0.1:${promPort}`;

  const demo = startDaemon(process.execPath, [DEMO_MAIN], {
    BROKER_URL: 'memory://',
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    DEMO_RATE: '50',
  });
  t.teardown(() => demo.stop());

  const shipped = parse(readFileSync(join(PROM_DIR, 'prometheus-demo.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const rules = parse(readFileSync(join(PROM_DIR, 'alerts.yml'), 'utf8')) as RuleFile;
  // The shipped demo config with only the target and the intervals changed, so that a few
  // seconds of demo give enough samples.
  const config = {
    ...shipped,
    global: { ...shipped.global, scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: shipped.rule_files.map((f) => join(PROM_DIR, f)),
    scrape_configs: shipped.scrape_configs.map((s) => ({
      ...s,
      static_configs: [{ targets: [`127.0.0.1:${adminPort}`] }],
    })),
  };
  const job = config.scrape_configs[0]!.job_name;
  const dataDir = mkdtempSync(join(tmpdir(), 'bk-prometheus-'));
  // JSON is YAML: no serialiser needed.
  const configFile = join(dataDir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const prometheus = startDaemon(PROMETHEUS, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dataDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn',
  ]);
  t.teardown(async () => {
    await prometheus.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async <T>(path: string): Promise<PromResponse<T>> => {
    const res = await fetch(prom + path);
    return (await res.json()) as PromResponse<T>;
  };
  const query = async (
    promql: string,
  ): Promise<PromResponse<{ resultType: string; result: VectorSample[] }>> => {
    const res = await fetch(`${prom}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: promql }),
    });
    return (await res.json()) as PromResponse<{ resultType: string; result: VectorSample[] }>;
  };
  const reachable = async (url: string) => (await fetch(url).catch(() => undefined))?.ok ?? false;

  let started = false;
  await t.test('the demo and Prometheus start', async (t) => {
    await waitFor(() => demo.exited() || reachable(`${admin}/readyz`), {
      timeoutMs: DEADLINE_MS,
      intervalMs: 200,
      message: () => `demo /readyz on ${admin}; output:\n${demo.output()}`,
    });
    t.notOk(demo.exited(), `demo is running (output: ${demo.output()})`);
    await waitFor(() => prometheus.exited() || reachable(`${prom}/-/ready`), {
      timeoutMs: DEADLINE_MS,
      intervalMs: 200,
      message: () => `prometheus /-/ready; output:\n${prometheus.output()}`,
    });
    t.notOk(prometheus.exited(), `prometheus is running (output: ${prometheus.output()})`);
    await waitFor(async () => (await query(`up{job="${job}"} == 1`)).data.result.length === 1, {
      timeoutMs: DEADLINE_MS,
      intervalMs: 250,
      message: 'Prometheus scraped the demo successfully',
    });
    t.pass(`Prometheus scrapes the demo as job ${job}`);
    started = !demo.exited() && !prometheus.exited();
  });

  if (started) {
    await t.test('promtool check metrics accepts the /metrics output', async (t) => {
      const res = await fetch(`${admin}/metrics`);
      t.equal(res.status, 200);
      const text = await res.text();
      t.match(text, /^brokerkit_/m, 'brokerkit metrics are exported');
      const r = await run(PROMTOOL, ['check', 'metrics'], { input: text });
      t.equal(r.code, 0, `promtool check metrics: ${r.stdout}${r.stderr}`);
    });

    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const targets = panelTargets(dashboard.panels);

    await t.test('every Grafana panel query parses', async (t) => {
      t.ok(targets.length >= 10, `${targets.length} panel queries`);
      for (const { panel, expr } of targets) {
        const r = await query(substitute(expr));
        t.equal(r.status, 'success', `${panel}: ${r.error ?? ''}`);
      }
    });

    await t.test('every Grafana panel query returns series', async (t) => {
      let empty: string[] = [];
      await waitFor(
        async () => {
          const results = await Promise.all(
            targets.map(async (x) => ({ x, r: await query(substitute(x.expr)) })),
          );
          empty = results
            .filter(
              ({ x, r }) =>
                !MAY_BE_EMPTY.has(x.panel) && (r.status !== 'success' || r.data.result.length === 0),
            )
            .map(({ x }) => x.panel);
          return empty.length === 0;
        },
        {
          timeoutMs: DEADLINE_MS,
          intervalMs: 1000,
          message: () => `panels without series: ${empty.join(', ')}`,
        },
      ).catch(() => undefined);
      t.same(empty, [], 'no panel query is empty');
    });

    await t.test('every dashboard variable query returns values', async (t) => {
      for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
        const q = typeof v.query === 'string' ? v.query : v.query.query;
        const r = await query(variableQuery(substitute(q)));
        t.equal(r.status, 'success', `$${v.name}: ${r.error ?? ''}`);
        t.ok(r.data?.result?.length > 0, `$${v.name} has values`);
      }
    });

    await t.test('every alert rule loads, evaluates and its expression parses', async (t) => {
      const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert ?? r.record ?? ''));
      let groups: RuleGroup[] = [];
      await waitFor(
        async () => {
          groups = (await get<{ groups: RuleGroup[] }>('/api/v1/rules')).data.groups;
          const loaded = groups.flatMap((g) => g.rules);
          return loaded.length === names.length && loaded.every((r) => !r.lastEvaluation.startsWith('0001'));
        },
        { timeoutMs: DEADLINE_MS, intervalMs: 500, message: 'every rule evaluated once' },
      );
      const loaded = groups.flatMap((g) => g.rules);
      t.same(
        loaded.map((r) => r.name).sort(),
        [...names].sort(),
        'Prometheus loaded every rule of alerts.yml',
      );
      for (const rule of loaded) {
        t.equal(rule.health, 'ok', `${rule.name} evaluates (${rule.lastError ?? 'no error'})`);
        const r = await query(rule.query);
        t.equal(r.status, 'success', `${rule.name} expression parses: ${r.error ?? ''}`);
      }
    });

    // The rule tests use hand-written series; these two check that the labels the real metrics
    // carry are the ones the rules join and filter on.
    await t.test('dead letters of the demo make BrokerkitDeadLettersPresent pending', async (t) => {
      let alerts: Alert[] = [];
      await waitFor(
        async () => {
          alerts = (await get<{ alerts: Alert[] }>('/api/v1/alerts')).data.alerts.filter(
            (a) => a.labels.alertname === 'BrokerkitDeadLettersPresent',
          );
          return alerts.length > 0;
        },
        { timeoutMs: DEADLINE_MS, intervalMs: 500, message: () => 'no BrokerkitDeadLettersPresent alert' },
      ).catch(() => undefined);
      const alert = alerts.find((a) => a.labels.queue === `${DEMO_QUEUE}.dlq`);
      t.ok(alert, `an alert for ${DEMO_QUEUE}.dlq (got ${JSON.stringify(alerts.map((a) => a.labels))})`);
      t.match(alert?.labels, { kind: 'dlq', broker: 'memory', severity: 'warning' });
      t.equal(alerts.filter((a) => a.labels.queue === `${DEMO_QUEUE}.dlq`).length, 1, 'one alert per queue');
      t.ok(alert && ['pending', 'firing'].includes(alert.state), `state ${alert?.state}`);
    });

    await t.test('consumed counters join the queue gauges: no demo queue counts as stalled', async (t) => {
      const depth = await waitFor(
        async () => {
          const r = await query('brokerkit_queue_depth{kind=~"group|queue"}');
          const names = r.data.result.map((s) => s.metric.queue!).sort();
          return DEMO_QUEUES.every((q) => names.includes(q)) ? names : undefined;
        },
        { timeoutMs: DEADLINE_MS, intervalMs: 500, message: `queue gauges for ${DEMO_QUEUES.join(', ')}` },
      );
      t.ok(depth.length >= DEMO_QUEUES.length, `queue gauges: ${depth.join(', ')}`);
      let stalled: string[] = [];
      await waitFor(
        async () => {
          const r = await query(consumedJoin(rules));
          stalled = r.data.result.map((s) => s.metric.queue!).filter((q) => DEMO_QUEUES.includes(q));
          return r.status === 'success' && stalled.length === 0;
        },
        { timeoutMs: DEADLINE_MS, intervalMs: 1000, message: () => `stalled: ${stalled.join(', ')}` },
      ).catch(() => undefined);
      t.same(stalled, [], 'every demo queue has a matching consumed rate');
    });
  }
}
