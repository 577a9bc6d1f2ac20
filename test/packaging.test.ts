// What a user installs, tested as a user gets it: every publishable package is packed
// (`npm pack`), the tarballs are installed into a fresh project outside the workspace, and the
// README's 30-second example is compiled (strict, against the packed type declarations) and run
// there on memory://, RabbitMQ and NATS. An app that installs only core and memory has no other
// adapter, and asking for one is BK_CONFIG naming the package; the CLIs' bins and the admin's
// status page assets work from the tarballs too.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TOPIC_ROOT, requireService, uniqueName } from '@brokerkit/contract-tests';
import { blocksOf } from './readme-blocks.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

// Packing, two installs and three runs take a while on a shared 2-core machine.
t.setTimeout(15 * 60_000);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

interface PackedFile {
  path: string;
}
interface Packed {
  name: string;
  filename: string;
  files: PackedFile[];
}

/** Workspaces that are published (not `private`), with their manifest. */
function publishable(): { dir: string; name: string; bin: Record<string, string> }[] {
  const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces.flatMap((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      bin?: Record<string, string>;
    };
    return pkg.private ? [] : [{ dir, name: pkg.name, bin: pkg.bin ?? {} }];
  });
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
  timeout = 10 * 60_000,
): SpawnSyncReturns<string> {
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_OPTIONS; // tap's TypeScript loader is not the user's
  return spawnSync(command, args, {
    cwd,
    env: childEnv,
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024,
  });
}

function npm(t: TapTest, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const result = run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], cwd);
  t.equal(result.status, 0, `npm ${args.join(' ')}${result.status ? `\n${result.stderr}` : ''}`);
  return result;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'brokerkit-packaging-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const tarballs = path.join(work, 'tarballs');
const app = path.join(work, 'app');
mkdirSync(tarballs);
mkdirSync(app);
const packages = publishable();
const tarballOf = new Map<string, string>();

t.test('npm pack: every publishable package ships its build, LICENSE and README, nothing else', async (t) => {
  t.ok(packages.length >= 9, `${packages.length} publishable packages`);
  const result = npm(
    t,
    [
      'pack',
      '--ignore-scripts',
      '--json',
      '--pack-destination',
      tarballs,
      ...packages.flatMap((p) => ['-w', p.dir]),
    ],
    ROOT,
  );
  const packed = JSON.parse(result.stdout) as Packed[];
  for (const { name, dir, bin } of packages) {
    const entry = packed.find((p) => p.name === name);
    if (!t.ok(entry, `${name} packed`) || !entry) continue;
    tarballOf.set(name, path.join(tarballs, entry.filename));
    const files = entry.files.map((f) => f.path);
    for (const must of ['package.json', 'LICENSE', 'dist/index.js', 'dist/index.d.ts'])
      t.ok(files.includes(must), `${name} has ${must}`);
    if (readdirSync(path.join(ROOT, dir)).includes('README.md'))
      t.ok(files.includes('README.md'), `${name} has README.md`);
    for (const target of Object.values(bin))
      t.ok(files.includes(target.replace(/^\.\//, '')), `${name} has ${target}`);
    const stray = files.filter((f) => /^(src|test|node_modules)\//.test(f) || f.endsWith('.tsbuildinfo'));
    t.same(stray, [], `${name}: no sources, tests or build info`);
  }
});

/** The README's 30-second example, with names unique to this run on a shared broker. */
function readmeExample(names?: { prefix: string; group: string; queue: string }): string {
  const block = blocksOf(ROOT, 'README.md').find((b) => b.lang === 'ts' && b.run);
  if (!block) throw new Error('README.md has no `ts run` block');
  if (!names) return block.code;
  let code = block.code;
  for (const [from, to] of [
    ["'orders.", `'${names.prefix}.`],
    ["group: 'billing'", `group: '${names.group}'`],
    ["'emails'", `'${names.queue}'`],
  ] as const) {
    if (!code.includes(from)) throw new Error(`the README example no longer contains ${from}`);
    code = code.replaceAll(from, to);
  }
  return code;
}

/** Compile `code` in the app with the workspace's TypeScript, strict, against the installed types. */
function compile(t: TapTest, name: string, code: string): string {
  const dir = path.join(app, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'example.ts'), code);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023', 'ESNext.Disposable'],
        // Node's types from the workspace; everything else from the app's node_modules.
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        types: ['node'],
        outDir: 'out',
      },
      files: ['example.ts'],
    }),
  );
  const tsc = run(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
    app,
  );
  t.equal(tsc.status, 0, `the README example compiles against the packed types\n${tsc.stdout}${tsc.stderr}`);
  return path.join(dir, 'out', 'example.js');
}

function runsExample(
  t: TapTest,
  script: string,
  url: string,
  names?: { prefix: string; queue: string },
): void {
  const result = run(process.execPath, [script], app, { BROKER_URL: url }, 120_000);
  t.equal(result.status, 0, `runs on ${url}${result.status ? `\n${result.stdout}\n${result.stderr}` : ''}`);
  const topic = `${names?.prefix ?? 'orders'}.created`;
  t.match(result.stdout, `billing got ${topic} o-1 42`, 'the group handler ran');
  t.match(result.stdout, 'send mail to ada@example.com', 'the worker ran');
}

t.test(
  'an app with core and memory only: the README example runs; other schemes ask for their package',
  async (t) => {
    writeFileSync(
      path.join(app, 'package.json'),
      `${JSON.stringify({ name: 'brokerkit-packaging-app', private: true, type: 'module' }, null, 2)}\n`,
    );
    npm(t, ['install', tarballOf.get('@brokerkit/core')!, tarballOf.get('@brokerkit/memory')!], app);
    const installed = readdirSync(path.join(app, 'node_modules', '@brokerkit')).sort();
    t.same(installed, ['core', 'memory'], 'only what the app asked for: optional adapter peers stay out');
    const script = compile(t, 'memory-only', readmeExample());
    runsExample(t, script, 'memory://');
    const refused = run(process.execPath, [script], app, { BROKER_URL: RABBITMQ_URL }, 60_000);
    t.not(refused.status, 0, 'amqp:// without @brokerkit/rabbitmq fails');
    t.match(refused.stderr, /"amqp:\/\/" needs the package @brokerkit\/rabbitmq; install it/);
    t.match(refused.stderr, /BK_CONFIG/);
  },
);

t.test(
  'with every package installed: the example on RabbitMQ and NATS, the CLIs and the admin',
  async (t) => {
    const rest = packages
      .map((p) => p.name)
      .filter(
        (n) =>
          !['@brokerkit/core', '@brokerkit/memory', '@brokerkit/contract-tests', '@brokerkit/redis'].includes(
            n,
          ),
      );
    npm(t, ['install', ...rest.map((n) => tarballOf.get(n)!)], app);

    for (const [name, url] of [
      ['rabbitmq', RABBITMQ_URL],
      ['nats', NATS_URL],
    ] as const) {
      await t.test(`the README example on ${name}`, async (t) => {
        const { hostname, port } = new URL(url);
        if (!(await requireService(t, name, hostname, Number(port)))) return;
        const names = {
          prefix: `${TOPIC_ROOT}.${uniqueName('pack')}`,
          group: uniqueName('billing'),
          queue: uniqueName('emails'),
        };
        t.teardown(() => {
          // Delete what the example declared on the shared broker.
          const cleanup = `import { connect } from '@brokerkit/core';
const b = await connect(process.env.BROKER_URL);
for (const q of ${JSON.stringify([names.group, names.queue])}) await b.inspector.deleteQueue(q).catch(() => {});
await b.close();`;
          writeFileSync(path.join(app, `cleanup-${name}.mjs`), cleanup);
          run(process.execPath, [`cleanup-${name}.mjs`], app, { BROKER_URL: url }, 60_000);
        });
        runsExample(t, compile(t, name, readmeExample(names)), url, names);
      });
    }

    const help = run('npx', ['--no-install', 'brokerkit-publish', '--help'], app, {}, 60_000);
    t.equal(help.status, 0, `npx brokerkit-publish --help${help.status ? `\n${help.stderr}` : ''}`);
    t.match(help.stdout, /^Usage: brokerkit-publish/);
    const subscribeHelp = run('npx', ['--no-install', 'brokerkit-subscribe', '--help'], app, {}, 60_000);
    t.equal(subscribeHelp.status, 0, 'npx brokerkit-subscribe --help');
    const sent = run(
      'npx',
      ['--no-install', 'brokerkit-publish', '--send', '--topic', uniqueName('cli'), '--count', '5', '--json'],
      app,
      { BROKER_URL: '' },
      60_000,
    );
    t.equal(sent.status, 0, `brokerkit-publish on memory://${sent.status ? `\n${sent.stderr}` : ''}`);
    t.match(JSON.parse(sent.stdout), { confirmed: 5, failed: 0 });
    t.match(
      sent.stderr,
      /memory:\/\/ is in-process: use --url amqp:\/\/… or --url nats:\/\/… to connect two processes/,
    );

    // The admin serves its status page and uPlot from the installed package.
    writeFileSync(
      path.join(app, 'admin.mjs'),
      `import { connect } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import { buildApp } from '@brokerkit/admin';
const broker = await connect('memory://');
const m = metrics();
broker.use(m);
const admin = await buildApp({ broker, registry: m.registry, config: { logLevel: false } });
const page = await admin.inject('/');
const asset = /src="(assets\\/uPlot[^"]+)"/.exec(page.body)[1];
const uplot = await admin.inject('/' + asset);
console.log(JSON.stringify({ page: page.statusCode, uplot: uplot.statusCode, bytes: uplot.body.length }));
await admin.close();
await broker.close();
`,
    );
    const admin = run(process.execPath, ['admin.mjs'], app, {}, 60_000);
    t.equal(admin.status, 0, `the admin runs from its tarball\n${admin.stderr}`);
    const served = JSON.parse(admin.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    t.match(served, { page: 200, uplot: 200 }, 'status page and uPlot served');
    t.ok(served.bytes! > 10_000, 'uPlot is the real file');
  },
);
