/**
 * The apps of the compose stack, run outside Docker exactly as compose/docker-compose.yml runs them
 * (same command, same environment) on memory:// and free ports: each starts, its compose health
 * check passes, and the port Prometheus scrapes (monitoring/prometheus/prometheus.yml) serves
 * /metrics that promtool accepts. Catches flags, variables and ports drifting apart between the
 * compose file, the scrape config and the apps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@brokerkit/contract-tests';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { freePort, requireTool, ROOT, run, startDaemon } from '../../monitoring/test/tools.js';

const PROMTOOL = '/usr/bin/promtool';
// Per app, for start-up and the first /metrics together (three apps stay within tap's timeout).
const DEADLINE_MS = 45_000;

interface Service {
  command: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}
const compose = parse(readFileSync(join(ROOT, 'compose/docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const prometheus = parse(readFileSync(join(ROOT, 'monitoring/prometheus/prometheus.yml'), 'utf8')) as {
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
};

/** Compose's `${VAR:-default}` with the variable unset. */
const interpolate = (value: string) => value.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

/** The port Prometheus scrapes on `service`, if it does. */
function scrapedPort(service: string): string | undefined {
  for (const job of prometheus.scrape_configs) {
    for (const target of job.static_configs.flatMap((s) => s.targets)) {
      const [host, port] = target.split(':');
      if (host === service) return port;
    }
  }
  return undefined;
}

/** Start `name` with its compose command and environment; `port` replaces the scraped port. */
function startAsComposed(t: Test, name: string, port: string) {
  const service = compose.services[name]!;
  const [program, ...args] = service.command;
  t.equal(program, 'node', `${name} runs node`);
  const composePort = scrapedPort(name);
  // Same variables; the broker is the in-process one and the port a free one on loopback.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    let v = interpolate(String(value));
    if (key === 'BROKER_URL') v = 'memory://';
    if (v === '0.0.0.0') v = '127.0.0.1';
    if (v === composePort) v = port;
    env[key] = v;
  }
  const app = startDaemon(process.execPath, args, env);
  t.teardown(() => app.stop());
  return { app, service, composePort };
}

for (const name of ['admin', 'subscriber']) {
  t.test(`${name} runs as compose configures it and serves the scraped /metrics`, async (t) => {
    const port = String(await freePort());
    const { app, service, composePort } = startAsComposed(t, name, port);
    t.ok(composePort, `Prometheus scrapes ${name}`);
    const deadline = Date.now() + DEADLINE_MS;
    const remaining = () => Math.max(1000, deadline - Date.now());

    const check = service.healthcheck?.test ?? [];
    t.same(check.slice(0, 3), ['CMD', 'node', '-e'], 'the health check runs node, which the image has');
    const script = String(check[3]).replaceAll(`:${composePort}/`, `:${port}/`);
    await waitFor(async () => app.exited() || (await run(process.execPath, ['-e', script])).code === 0, {
      timeoutMs: remaining(),
      intervalMs: 250,
      message: () => `${name} health check; output:\n${app.output()}`,
    }).catch(() => undefined);
    t.notOk(app.exited(), `${name} is running (output: ${app.output()})`);
    t.equal((await run(process.execPath, ['-e', script])).code, 0, `${name} health check passes`);

    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    let text = '';
    await waitFor(
      async () => {
        if (app.exited()) return true;
        const res = await fetch(metricsUrl).catch(() => undefined);
        if (res?.ok) text = await res.text();
        return text.includes('brokerkit_');
      },
      { timeoutMs: remaining(), intervalMs: 250, message: () => `${metricsUrl}; output:\n${app.output()}` },
    ).catch(() => undefined);
    t.match(
      text,
      /^brokerkit_connection_up\{broker="memory"\} 1$/m,
      `${name} serves /metrics on the scraped port`,
    );
    if (text && requireTool(t, PROMTOOL, 'prometheus', false)) {
      const r = await run(PROMTOOL, ['check', 'metrics'], { input: text });
      t.equal(r.code, 0, `promtool check metrics: ${r.stdout}${r.stderr}`);
    }
  });
}

t.test('publisher runs as compose configures it and stops on SIGTERM', async (t) => {
  const port = String(await freePort());
  const { app, composePort } = startAsComposed(t, 'publisher', port);
  t.ok(composePort, 'Prometheus scrapes the publisher');
  // Its first progress line: flags accepted, connected, publishing.
  await waitFor(() => app.exited() || /^progress: [1-9]\d*\//m.test(app.output()), {
    timeoutMs: DEADLINE_MS,
    intervalMs: 100,
    message: () => `publisher progress; output:\n${app.output()}`,
  }).catch(() => undefined);
  t.notOk(app.exited(), `publisher is running (output: ${app.output()})`);
  t.match(app.output(), /^progress: [1-9]\d*\/4320000 settled/m, 'publishing the configured count');
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  t.match(
    metrics,
    /^brokerkit_messages_published_total\{broker="memory",destination="orders\.created"\} [1-9]/m,
    'serves its publish counters on the scraped port',
  );
  await app.stop();
  // 130: interrupted before everything was sent (apps/publisher README); what was sent settled.
  t.equal(app.child.exitCode, 130, `exit code (output: ${app.output().slice(-500)})`);
});
