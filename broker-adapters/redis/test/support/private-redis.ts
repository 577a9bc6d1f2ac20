// A private redis-server (own port, own directory, append-only file fsynced on every write)
// that a fault test can SIGKILL and start again on the same port and data.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isReachable, waitFor } from '@brokerkit/contract-tests';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

/** True when the redis-server binary is installed. */
export function haveRedisServer(): boolean {
  return existsSync(REDIS_SERVER_BIN);
}

/** The persistence every private server runs with (and the bench): nothing answered is lost in a crash. */
export const DURABLE_ARGS: readonly string[] = [
  '--appendonly',
  'yes',
  '--appendfsync',
  'always',
  '--save',
  '',
];

/** One private server. */
export class PrivateRedis {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Start on a free port with a fresh directory; stopped and removed in teardown. */
  static async start(t: { teardown(fn: () => unknown): void }): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'bk-redis-')));
    t.teardown(async () => {
      await server.kill();
      rmSync(server.dir, { recursive: true, force: true });
    });
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** (Re)start on the same port and directory; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const child = spawn(
      REDIS_SERVER_BIN,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...DURABLE_ARGS],
      { stdio: 'ignore' },
    );
    this.#child = child;
    await waitFor(() => isReachable('127.0.0.1', this.port, 200), {
      timeoutMs: 10_000,
      message: `redis-server on ${this.port} to start`,
    });
  }

  /** SIGKILL: no shutdown, no flush — a crash. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }
}
