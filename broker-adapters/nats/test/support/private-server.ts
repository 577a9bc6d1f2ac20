// A private nats-server (own port, own JetStream store) that a fault test can SIGKILL and start
// again on the same port and store.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isReachable, waitFor } from '@brokerkit/contract-tests';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/** True when the nats-server binary is installed. */
export function haveNatsServer(): boolean {
  return existsSync(NATS_SERVER_BIN);
}

/** One private server. */
export class PrivateServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  /** Start on a free port with a fresh store; stopped and removed in teardown. */
  static async start(t: { teardown(fn: () => unknown): void }): Promise<PrivateServer> {
    const server = new PrivateServer(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'bk-nats-')));
    t.teardown(async () => {
      await server.kill();
      rmSync(server.storeDir, { recursive: true, force: true });
    });
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** (Re)start on the same port and store; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const child = spawn(
      NATS_SERVER_BIN,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
      {
        stdio: 'ignore',
      },
    );
    this.#child = child;
    await waitFor(() => isReachable('127.0.0.1', this.port, 200), {
      timeoutMs: 10_000,
      message: `nats-server on ${this.port} to start`,
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
