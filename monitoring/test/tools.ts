/**
 * Test support for the monitoring and compose tests: external tools (promtool, prometheus,
 * docker-compose) that may be missing on a laptop, free ports, and child processes that are
 * always stopped.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The subset of a tap `Test` that {@link requireTool} needs. */
export interface SkippableTest {
  plan?(n: number, comment?: string): void;
  comment(...args: unknown[]): void;
  fail(message: string): boolean;
}

/**
 * Check that an executable exists. Outside CI a missing tool skips with a printed reason (returns
 * false): the whole test when `planSkip` (the default), else only the caller's branch. With
 * `CI=true` nothing may skip, so the test fails instead.
 */
export function requireTool(t: SkippableTest, path: string, debianPackage: string, planSkip = true): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    const reason = `${path} is missing (Debian package "${debianPackage}")`;
    if (process.env.CI === 'true') {
      t.fail(`${reason}; CI=true: .ci/run installs it`);
      return false;
    }
    t.comment(`skipping: ${reason}`);
    if (planSkip) t.plan?.(0, `skip: ${reason}`);
    return false;
  }
}

/** What a finished command printed and how it exited. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (never throws for a non-zero exit; the caller asserts on `code`). */
export function run(
  file: string,
  args: string[],
  options: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      file,
      args,
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolvePromise({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** A free TCP port on 127.0.0.1 (bound then released; the caller binds it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePromise(port));
    });
  });
}

/** A child process whose output is kept (the tail shows in failure messages). */
export interface Daemon {
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far, last 8 KiB. */
  output(): string;
  /** True once it exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Start a long-running process (a server) that the test stops in teardown. */
export function startDaemon(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Daemon {
  const child = spawn(file, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolvePromise) =>
    child.once('exit', () => {
      exited = true;
      resolvePromise();
    }),
  );
  child.once('error', (error) => keep(Buffer.from(`spawn error: ${error.message}\n`)));
  let stopping: Promise<void> | undefined;
  return {
    child,
    output: () => output,
    exited: () => exited,
    stop: (graceMs = 5000) =>
      (stopping ??= (async () => {
        if (exited || child.exitCode !== null || child.pid === undefined) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      })()),
  };
}
