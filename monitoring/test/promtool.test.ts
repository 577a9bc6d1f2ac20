/**
 * promtool on the shipped Prometheus files: configs and rules parse, the rule unit tests pass,
 * and every alert has both a firing and a non-firing case in those tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { requireTool, ROOT, run } from './tools.js';

const PROMTOOL = '/usr/bin/promtool';
const DIR = join(ROOT, 'monitoring/prometheus');
const CONFIGS = ['prometheus.yml', 'prometheus-demo.yml'];
const RULE_TESTS = readdirSync(join(DIR, 'tests'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(DIR, 'tests', f));

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface RuleTestFile {
  tests: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] | null }[] }[];
}

if (requireTool(t, PROMTOOL, 'prometheus')) {
  for (const config of CONFIGS) {
    t.test(`promtool check config ${config}`, async (t) => {
      const r = await run(PROMTOOL, ['check', 'config', join(DIR, config)]);
      t.equal(r.code, 0, r.stdout + r.stderr);
    });
  }

  t.test('promtool check rules alerts.yml', async (t) => {
    const r = await run(PROMTOOL, ['check', 'rules', join(DIR, 'alerts.yml')]);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  t.test('promtool test rules', async (t) => {
    t.ok(RULE_TESTS.length > 0, 'rule test files exist');
    const r = await run(PROMTOOL, ['test', 'rules', ...RULE_TESTS]);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /SUCCESS/);
  });
}

t.test('every alert has a firing and a non-firing rule test case', async (t) => {
  const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as RuleFile;
  const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
  t.ok(alerts.length >= 5, `${alerts.length} alerts`);
  const firing = new Set<string>();
  const quiet = new Set<string>();
  for (const file of RULE_TESTS) {
    const doc = parse(readFileSync(file, 'utf8')) as RuleTestFile;
    for (const test of doc.tests) {
      for (const c of test.alert_rule_test ?? []) {
        (c.exp_alerts && c.exp_alerts.length > 0 ? firing : quiet).add(c.alertname);
      }
    }
  }
  for (const alert of alerts) {
    t.ok(firing.has(alert), `${alert} has a firing case`);
    t.ok(quiet.has(alert), `${alert} has a non-firing case`);
  }
  const unknown = [...firing, ...quiet].filter((a) => !alerts.includes(a));
  t.same(unknown, [], 'tests only name alerts that exist');
});
