// `npm run admin` as a process: it serves, and SIGTERM shuts it down cleanly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { waitFor } from '@brokerkit/contract-tests';

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

  const url = await waitFor(() => /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1], {
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
