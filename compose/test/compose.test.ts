/**
 * The compose stack without starting it (no image registry in CI): docker-compose accepts the file,
 * everything it mounts or builds from exists, health checks back every `service_healthy`
 * dependency, the Dockerfile installs every workspace and runs unprivileged, and Prometheus and
 * Grafana point at services and paths that exist in the stack.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { requireTool, ROOT, run } from '../../monitoring/test/tools.js';

const DOCKER_COMPOSE = '/usr/bin/docker-compose';
const COMPOSE_DIR = join(ROOT, 'compose');
const COMPOSE_FILE = join(COMPOSE_DIR, 'docker-compose.yml');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string> | string[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: string[];
  hostname?: string;
  profiles?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** `source:target[:mode]` of a short-syntax volume, or the long syntax's fields. */
function mount(volume: NonNullable<Service['volumes']>[number]): { source: string; target: string } {
  if (typeof volume !== 'string') return { source: volume.source ?? '', target: volume.target };
  const [source = '', target = ''] = volume.split(':');
  return { source, target };
}

const isPath = (source: string) => source.startsWith('.') || isAbsolute(source);

t.test('docker-compose config -q accepts the file', async (t) => {
  if (!requireTool(t, DOCKER_COMPOSE, 'docker-compose')) return;
  for (const brokerUrl of ['', 'nats://nats:4222', 'redis://redis:6379']) {
    const r = await run(DOCKER_COMPOSE, ['-f', COMPOSE_FILE, 'config', '-q'], {
      env: { BROKER_URL: brokerUrl },
    });
    t.equal(r.code, 0, `BROKER_URL=${brokerUrl || '(unset)'}: ${r.stdout}${r.stderr}`);
    t.equal(r.stderr, '', 'no warnings');
  }
  const clusterUrl = 'amqp://guest:guest@rabbitmq-1:5672,amqp://rabbitmq-2:5672,amqp://rabbitmq-3:5672';
  const r = await run(DOCKER_COMPOSE, ['-f', COMPOSE_FILE, '--profile', 'cluster', 'config', '-q'], {
    env: { BROKER_URL: clusterUrl },
  });
  t.equal(r.code, 0, `--profile cluster: ${r.stdout}${r.stderr}`);
  t.equal(r.stderr, '', '--profile cluster: no warnings');
});

/** The value after `flag` in a command line (`['-n', 'x']` → `x`). */
function flag(service: Service, ...names: string[]): string | undefined {
  const command = Array.isArray(service.command)
    ? service.command
    : String(service.command ?? '').split(/\s+/);
  const i = command.findIndex((arg) => names.includes(arg));
  return i < 0 ? undefined : command[i + 1];
}

t.test(
  'profile cluster: 3 RabbitMQ nodes that form one cluster, 3 NATS servers routed to each other',
  async (t) => {
    const inProfile = services.filter(([, s]) => s.profiles?.includes('cluster')).map(([name]) => name);
    t.same(
      inProfile.sort(),
      ['nats-1', 'nats-2', 'nats-3', 'rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'],
      'the cluster profile has the six nodes',
    );
    for (const [name, service] of services) {
      if (!inProfile.includes(name)) t.notOk(service.profiles, `${name} runs without a profile`);
    }
    const hostPorts = services.flatMap(([, s]) => (s.ports ?? []).map((p) => p.split(':')[0]));
    t.equal(new Set(hostPorts).size, hostPorts.length, 'no host port is published twice');

    // RabbitMQ: node names from the hostnames, listed in the mounted classic_config file.
    const rabbits = ['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'].map(
      (name) => [name, compose.services[name]!] as const,
    );
    const cookies = new Set<string>();
    let peers: string[] | undefined;
    for (const [name, service] of rabbits) {
      t.equal(service.hostname, name, `${name}: hostname = service name (node rabbit@${name})`);
      t.ok(service.healthcheck?.test, `${name} has a health check`);
      const env = environment(service);
      const cookie = /-setcookie\s+(\S+)/.exec(env.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS ?? '')?.[1];
      t.ok(cookie, `${name}: the server gets a cookie`);
      t.match(
        env.RABBITMQ_CTL_ERL_ARGS ?? '',
        `-setcookie ${cookie}`,
        `${name}: its CLI tools get the same cookie`,
      );
      cookies.add(String(cookie));
      const conf = (service.volumes ?? [])
        .map(mount)
        .find((m) => m.target.startsWith('/etc/rabbitmq/conf.d/'));
      t.ok(conf && conf.target.endsWith('.conf'), `${name} mounts a cluster config into conf.d`);
      if (!conf) continue;
      const text = readFileSync(resolve(COMPOSE_DIR, conf.source), 'utf8');
      t.match(
        text,
        /^cluster_formation\.peer_discovery_backend = classic_config$/m,
        `${name}: classic_config`,
      );
      peers = [...text.matchAll(/^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$/gm)].map(
        (m) => m[1]!,
      );
      t.same(
        peers,
        ['rabbit@rabbitmq-1', 'rabbit@rabbitmq-2', 'rabbit@rabbitmq-3'],
        `${name}: peers are the 3 nodes`,
      );
    }
    t.equal(cookies.size, 1, 'one Erlang cookie for the three nodes');
    for (const name of ['rabbitmq-2', 'rabbitmq-3']) {
      const deps = compose.services[name]!.depends_on as Record<string, { condition?: string }> | undefined;
      t.equal(deps?.['rabbitmq-1']?.condition, 'service_healthy', `${name} joins once rabbitmq-1 is healthy`);
    }

    // NATS: one cluster name, distinct server names, each routed to the other two on their cluster port.
    const natsNodes = ['nats-1', 'nats-2', 'nats-3'];
    const clusterNames = new Set<string | undefined>();
    const serverNames = new Set<string | undefined>();
    for (const name of natsNodes) {
      const service = compose.services[name]!;
      const command = (service.command as string[]).join(' ');
      t.match(command, /(^| )-js( |$)/, `${name}: JetStream`);
      const store = flag(service, '-sd', '--store_dir');
      t.ok(
        (service.volumes ?? []).map(mount).some((m) => m.target === store && !isPath(m.source)),
        `${name}: its store ${store} is a named volume`,
      );
      clusterNames.add(flag(service, '--cluster_name'));
      serverNames.add(flag(service, '-n', '--name', '--server_name'));
      t.equal(flag(service, '-n', '--name', '--server_name'), name, `${name}: server name = service name`);
      const listen = new URL(flag(service, '--cluster', '-cluster') ?? 'nats://invalid');
      const routes = (flag(service, '--routes', '-routes') ?? '').split(',').map((r) => new URL(r));
      t.same(
        routes.map((r) => r.hostname).sort(),
        natsNodes.filter((n) => n !== name),
        `${name}: routes to the other two`,
      );
      for (const r of routes) t.equal(r.port, listen.port, `${name}: route ${r.host} uses the cluster port`);
      t.ok(service.healthcheck?.test, `${name} has a health check`);
    }
    t.equal(clusterNames.size, 1, 'one NATS cluster name');
    t.equal(serverNames.size, 3, 'three server names');
  },
);

t.test('the stack has the services of the root README', async (t) => {
  const names = Object.keys(compose.services).sort();
  for (const name of [
    'rabbitmq',
    'nats',
    'redis',
    'prometheus',
    'grafana',
    'admin',
    'publisher',
    'subscriber',
  ]) {
    t.ok(names.includes(name), `service ${name}`);
  }
  t.match(String(compose.services.nats?.command), /-js.*-m.*8222/, 'nats runs with JetStream and monitoring');
});

t.test('every mounted file or folder exists and named volumes are declared', async (t) => {
  let mounts = 0;
  for (const [name, service] of services) {
    for (const volume of service.volumes ?? []) {
      const { source, target } = mount(volume);
      if (isPath(source)) {
        mounts++;
        t.ok(existsSync(resolve(COMPOSE_DIR, source)), `${name}: ${source} (mounted at ${target}) exists`);
      } else {
        t.ok(compose.volumes && source in compose.volumes, `${name}: named volume ${source} is declared`);
      }
    }
  }
  t.ok(mounts >= 4, `${mounts} bind mounts checked`);
});

t.test('the apps build from the root Dockerfile and run entry points that exist', async (t) => {
  const apps = services.filter(([, s]) => s.build !== undefined);
  t.same(apps.map(([name]) => name).sort(), ['admin', 'publisher', 'subscriber']);
  for (const [name, service] of apps) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
    const context = resolve(COMPOSE_DIR, build.context ?? '.');
    t.equal(context, ROOT, `${name} builds from the repository root`);
    t.ok(existsSync(join(context, build.dockerfile ?? 'Dockerfile')), `${name}: Dockerfile exists`);
    const command = Array.isArray(service.command) ? service.command : String(service.command).split(/\s+/);
    const entry = command.find((arg) => /\/dist\/.+\.js$/.test(arg));
    t.ok(entry, `${name} runs a compiled entry point`);
    if (entry) {
      const source = entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts');
      t.ok(existsSync(join(ROOT, source)), `${name}: ${source} exists (compiled to ${entry})`);
    }
  }
});

t.test('every service_healthy dependency has a health check', async (t) => {
  for (const [name, service] of services) {
    const deps = Array.isArray(service.depends_on) ? {} : (service.depends_on ?? {});
    for (const [dep, { condition }] of Object.entries(deps)) {
      t.ok(compose.services[dep], `${name} depends on an existing service ${dep}`);
      if (condition === 'service_healthy') {
        const check = compose.services[dep]?.healthcheck;
        t.ok(check?.test && !check.disable, `${dep} (awaited by ${name}) has a health check`);
      }
    }
  }
  for (const name of ['rabbitmq', 'nats', 'redis', 'prometheus', 'grafana', 'admin', 'subscriber']) {
    t.ok(compose.services[name]?.healthcheck?.test, `${name} has a health check`);
  }
});

t.test('the Dockerfile: multi-stage, every workspace installed, production deps, non-root', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.match(/^FROM\s+\S+(\s+AS\s+\S+)?/gim) ?? [];
  t.ok(stages.length >= 2, `${stages.length} stages`);
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  t.match(runtime, /npm ci --omit=dev/, 'the runtime stage installs production dependencies only');
  t.match(runtime, /COPY --from=build/, 'the runtime stage takes the build output');
  const user = /^USER\s+(\S+)/m.exec(runtime)?.[1];
  t.ok(user && user !== 'root' && user !== '0', `runs as ${user}`);
  t.match(dockerfile, /tsc -b/, 'the build stage compiles the workspace');

  const { workspaces } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    workspaces: string[];
  };
  for (const ws of workspaces) {
    t.match(dockerfile, new RegExp(`^COPY ${ws}/package\\.json ${ws}/$`, 'm'), `copies ${ws}/package.json`);
  }
  // A package's `bin` launchers (npx brokerkit-publish) must reach the runtime image with its dist/.
  const handOn = dockerfile.slice(dockerfile.indexOf('mkdir -p /out'), dockerfile.lastIndexOf('\nFROM '));
  for (const dir of ['apps/publisher', 'apps/subscriber']) {
    const { bin } = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
      bin?: Record<string, string>;
    };
    t.ok(bin && Object.keys(bin).length > 0, `${dir} declares a bin`);
    for (const target of Object.values(bin ?? {}))
      t.ok(target.startsWith('./bin/'), `${dir}: ${target} is in bin/`);
  }
  t.match(
    handOn,
    /cp -r "\$dir\/bin" "\/out\/\$dir\/"/,
    'the build stage hands bin/ on to the runtime image',
  );

  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const pattern of ['**/node_modules', '**/dist', '.git']) {
    t.ok(ignore.includes(pattern), `.dockerignore excludes ${pattern}`);
  }
});

t.test('Prometheus scrapes services of the stack on the ports they listen on', async (t) => {
  const prometheus = compose.services.prometheus!;
  const configMount = (prometheus.volumes ?? []).map(mount).find((m) => m.target === '/etc/prometheus');
  t.ok(configMount, 'monitoring/prometheus is mounted at /etc/prometheus');
  const configDir = resolve(COMPOSE_DIR, configMount!.source);
  t.equal(configDir, join(ROOT, 'monitoring/prometheus'));
  const command = (prometheus.command as string[]).join(' ');
  t.match(command, /--config\.file=\/etc\/prometheus\/prometheus\.yml/);

  const config = parse(readFileSync(join(configDir, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  for (const file of config.rule_files) t.ok(existsSync(join(configDir, file)), `rule file ${file} exists`);

  // Ports the apps listen on, from their environment (the defaults when unset).
  const listens: Record<string, string | undefined> = {
    admin: environment(compose.services.admin!).ADMIN_PORT ?? '3000',
    subscriber: environment(compose.services.subscriber!).SUBSCRIBER_PORT,
    publisher: environment(compose.services.publisher!).PUBLISHER_METRICS_PORT,
    rabbitmq: '15692',
    'nats-exporter': '7777',
  };
  const scraped = new Set<string>();
  for (const job of config.scrape_configs) {
    for (const target of job.static_configs.flatMap((s) => s.targets)) {
      const [host = '', port] = target.split(':');
      scraped.add(host);
      t.ok(compose.services[host], `${job.job_name}: ${host} is a service of the stack`);
      t.equal(port, listens[host], `${job.job_name}: ${host} listens on ${port}`);
    }
  }
  for (const name of ['admin', 'publisher', 'subscriber', 'rabbitmq', 'nats-exporter'])
    t.ok(scraped.has(name), `scrapes ${name}`);
});

t.test('Grafana provisioning points at the stack', async (t) => {
  const grafana = compose.services.grafana!;
  const mounts = (grafana.volumes ?? []).map(mount);
  const provisioned = (kind: string) => {
    const m = mounts.find((x) => x.target === `/etc/grafana/provisioning/${kind}`);
    t.ok(m, `provisioning/${kind} mounted`);
    return resolve(COMPOSE_DIR, m!.source);
  };

  const datasources = parse(readFileSync(join(provisioned('datasources'), 'prometheus.yml'), 'utf8')) as {
    datasources: { type: string; url: string; uid: string }[];
  };
  const prometheus = datasources.datasources.find((d) => d.type === 'prometheus');
  t.ok(prometheus, 'a Prometheus data source');
  const url = new URL(prometheus!.url);
  t.ok(compose.services[url.hostname], `data source host ${url.hostname} is a service`);
  t.equal(url.port, '9090');

  const providers = parse(readFileSync(join(provisioned('dashboards'), 'brokerkit.yml'), 'utf8')) as {
    providers: { options: { path: string } }[];
  };
  for (const provider of providers.providers) {
    const dashboards = mounts.find((m) => m.target === provider.options.path);
    t.ok(dashboards, `dashboard path ${provider.options.path} is mounted`);
    const dir = resolve(COMPOSE_DIR, dashboards!.source);
    t.ok(existsSync(join(dir, 'brokerkit.json')), 'the brokerkit dashboard is in it');
  }
  const home = environment(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home) {
    const m = mounts.find((x) => home.startsWith(`${x.target}/`));
    t.ok(
      m && existsSync(join(resolve(COMPOSE_DIR, m.source), home.slice(m.target.length))),
      `${home} exists`,
    );
  }
});

t.test('compose/README.md names every service', async (t) => {
  const readme = readFileSync(join(dirname(COMPOSE_FILE), 'README.md'), 'utf8');
  for (const name of Object.keys(compose.services)) t.match(readme, `\`${name}\``, name);
});
