// `npm run admin` as a process: it serves, and SIGTERM shuts it down cleanly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';

const SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url));

t.test('the server listens, answers, and exits 0 on SIGTERM', async (t) => {
  if (!existsSync(SERVER)) {
    t.plan(0, `skip: ${SERVER} not built (npm test builds it)`);
    return;
  }
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      BROKER_URL: 'memory://',
      ADMIN_PORT: '0',
      ADMIN_TOKEN: 'server-test-token-123',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  // Generous: on a loaded 2-core machine loading Fastify, Swagger and the adapters takes seconds.
  const url = await waitFor(() => /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1], {
    timeoutMs: 60_000,
    message: () => `server output: ${output}`,
  });
  const health = await fetch(`${url}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });
  const ready = await fetch(`${url}/readyz`);
  t.equal(ready.status, 200);
  t.match(output, /brokerkit admin ready/);
  t.notMatch(output, /server-test-token-123/, 'the token is never logged');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0 after SIGTERM');
  t.match(output, /shutting down/);
});

/** Run the server with `env` until it exits; resolves with its exit code and stderr. */
function runUntilExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, BROKER_URL: 'memory://', ADMIN_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

t.test('bad settings exit 2 with one line naming the variable; an unreachable broker exits 1', async (t) => {
  if (!existsSync(SERVER)) {
    t.plan(0, `skip: ${SERVER} not built (npm test builds it)`);
    return;
  }
  const port = await freePort(); // nothing listens there
  const cases: [Record<string, string>, number, RegExp][] = [
    [{ ADMIN_PORT: 'abc' }, 2, /^brokerkit-admin: ADMIN_PORT must be an integer 0\.\.65535, got "abc"/],
    [{ ADMIN_PORT: '70000' }, 2, /^brokerkit-admin: ADMIN_PORT must be/],
    [
      { BROKER_URL: 'foo://x' },
      2,
      /^brokerkit-admin: BROKER_URL=foo:\/\/x: no adapter for "foo:\/\/" URLs .*\[BK_CONFIG\]/,
    ],
    [{ BROKER_URL: 'not a url' }, 2, /^brokerkit-admin: BROKER_URL: broker URL is not a valid URL/],
    [{ ADMIN_TOKEN: 'short' }, 2, /^brokerkit-admin: ADMIN_TOKEN must be at least 16 characters/],
    [
      { BROKER_URL: `nats://secret-token@127.0.0.1:${port}` },
      1,
      /^brokerkit-admin: BROKER_URL: cannot connect to nats:\/\/\*\*\*@127\.0\.0\.1:\d+\/? \[BK_UNAVAILABLE\]/,
    ],
  ];
  for (const [env, code, line] of cases) {
    const result = await runUntilExit(env);
    const name = JSON.stringify(env);
    t.equal(result.code, code, `${name}: exit ${code}`);
    t.match(result.stderr, line, name);
    t.equal(result.stderr.trimEnd().split('\n').length, 1, `${name}: one line, no stack trace`);
    t.notMatch(result.stderr, /secret-token/, `${name}: no credentials`);
  }
});
