// `npm start` as a user or a supervisor runs it: the process they signal is npm. A SIGTERM sent to
// npm must drain the demo and end it (it used to keep running, orphaned, /readyz still 200).
// And a bad variable ends the demo with one line naming it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { DEMO_MAIN, repoPath, runNode } from '../../subscriber/test/support.js';

/** Process ids of `pid`'s children (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function answers(url: string): Promise<number | undefined> {
  try {
    return (await fetch(url)).status;
  } catch {
    return undefined; // not listening
  }
}

t.test('SIGTERM to the npm process drains the demo and ends it', async (t) => {
  if (process.platform !== 'linux') {
    t.plan(0, 'skip: reads /proc to find the demo under npm');
    return;
  }
  const port = await freePort();
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: repoPath(''),
    env: { ...process.env, BROKER_URL: 'memory://', ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  npm.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const npmExited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const demo: { pid?: number } = {};
  t.teardown(() => {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    if (demo.pid !== undefined && alive(demo.pid)) process.kill(demo.pid, 'SIGKILL');
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await answers(`${base}/readyz`)) === 200, {
    timeoutMs: 60_000,
    intervalMs: 200,
    message: () => `readyz never 200:\n${output}`,
  });
  // npm runs the script through a shell that execs node: the demo is npm's own child.
  const [child] = childrenOf(npm.pid!);
  t.ok(child, 'npm has a child process');
  demo.pid = child;
  const demoPid = child!;
  t.match(
    readFileSync(`/proc/${demoPid}/cmdline`, 'utf8'),
    /apps\/demo\/dist\/main\.js/,
    'the child is the demo',
  );
  t.match(
    output,
    /admin token +[0-9a-f]{24} \(made for this run/,
    'the banner shows a token for the buttons',
  );

  npm.kill('SIGTERM');
  await npmExited;
  await waitFor(() => !alive(demoPid), {
    timeoutMs: 30_000,
    message: () => `the demo still runs:\n${output}`,
  });
  t.pass('the demo exited');
  t.equal(await answers(`${base}/readyz`), undefined, '/readyz no longer answers');
  t.match(output, /SIGTERM: draining\.\.\.\nstopped cleanly\n/, 'it drained instead of dying');
});

t.test('bad settings exit 2 with one line naming the variable', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ ADMIN_PORT: 'abc' }, /^brokerkit demo: ADMIN_PORT must be an integer 0\.\.65535, got "abc"/],
    [{ BROKER_URL: 'foo://x' }, /^brokerkit demo: BROKER_URL=foo:\/\/x: no adapter for "foo:\/\/" URLs/],
    [{ ADMIN_TOKEN: 'short' }, /^brokerkit demo: ADMIN_TOKEN must be at least 16 characters/],
  ];
  for (const [env, line] of cases) {
    const result = await runNode(DEMO_MAIN, [], {
      env: { BROKER_URL: 'memory://', ADMIN_PORT: '0', ...env },
    });
    t.equal(result.code, 2, JSON.stringify(env));
    t.match(result.stderr, line);
    t.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line, no stack trace');
  }
});

t.test('a port in use exits 1 with one line', async (t) => {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const result = await runNode(DEMO_MAIN, [], {
    env: { BROKER_URL: 'memory://', ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(port) },
  });
  t.equal(result.code, 1);
  t.match(
    result.stderr,
    new RegExp(
      `^brokerkit demo: cannot listen on 127\\.0\\.0\\.1:${port} \\(ADMIN_HOST / ADMIN_PORT\\): port ${port} is in use`,
    ),
  );
  t.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line, no stack trace');
});
