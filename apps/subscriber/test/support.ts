/**
 * Test support for the apps: spawn the real bins as child processes, read their output by line,
 * and list the real brokers whose adapters are built (RabbitMQ, NATS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@brokerkit/contract-tests';

/** Absolute path of a file relative to the repository root. */
export const repoPath = (relative: string): string =>
  fileURLToPath(new URL(`../../../${relative}`, import.meta.url));

export const PUBLISHER_BIN = repoPath('apps/publisher/dist/cli.js');
export const SUBSCRIBER_BIN = repoPath('apps/subscriber/dist/cli.js');
export const DEMO_MAIN = repoPath('apps/demo/dist/main.js');

/** A spawned process whose output is collected as it arrives. */
export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal name) once the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait (with a deadline) until stdout has a line matching `pattern`; resolves with the match. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGKILL if still running (teardown). */
  kill(): void;
}

/** Spawn `node <script> ...args` with `env` added to this process's environment. */
export function spawnNode(
  script: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Spawned {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    }),
  );
  const spawned: Spawned = {
    child,
    pid: child.pid!,
    stdout: '',
    stderr: '',
    exited,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      return waitFor(
        () => {
          const m = pattern.exec(spawned.stdout);
          if (m) return m;
          if (!running)
            throw new Error(
              `process exited before printing ${pattern}:\n${spawned.stdout}\n${spawned.stderr}`,
            );
          return undefined;
        },
        { timeoutMs, message: () => `no ${pattern} in output:\n${spawned.stdout}\n${spawned.stderr}` },
      );
    },
    kill() {
      if (running) child.kill('SIGKILL');
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (spawned.stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (spawned.stderr += chunk));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  else child.stdin!.end();
  return spawned;
}

/** Run a script to completion (killed after `timeoutMs`) and return its exit code and output. */
export async function runNode(
  script: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnNode(script, args, options);
  const timer = setTimeout(() => p.kill(), options.timeoutMs ?? 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** A real broker the app tests run against. */
export interface RealBroker {
  readonly name: 'rabbitmq' | 'nats';
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

const REAL_BROKERS: readonly RealBroker[] = [
  { name: 'rabbitmq', url: 'amqp://guest:guest@127.0.0.1:5672', host: '127.0.0.1', port: 5672 },
  { name: 'nats', url: 'nats://127.0.0.1:4222', host: '127.0.0.1', port: 4222 },
];

/**
 * The real brokers whose adapter is built (its dist exports `createTransport`). Adapters land
 * independently of the apps, so a missing one is reported as a skip reason, not a failure.
 */
export function builtBrokers(): { present: RealBroker[]; missing: string[] } {
  const present: RealBroker[] = [];
  const missing: string[] = [];
  for (const broker of REAL_BROKERS) {
    const entry = repoPath(`broker-adapters/${broker.name}/dist/index.js`);
    if (existsSync(entry) && readFileSync(entry, 'utf8').includes('createTransport')) present.push(broker);
    else missing.push(`@brokerkit/${broker.name} is not built (${entry})`);
  }
  return { present, missing };
}

/** One line of a subscriber `--record` file. */
export interface RecordEntry {
  readonly id: string;
  readonly topic: string;
  readonly attempt: number;
}

/** The complete lines of a subscriber `--record` file (none when it doesn't exist yet). */
export function readRecordEntries(path: string): RecordEntry[] {
  if (!existsSync(path)) return [];
  const all = readFileSync(path, 'utf8').split('\n');
  all.pop(); // text after the last newline is a line still being written (or '')
  return all
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id, topic, attempt] = line.split('\t');
      return { id: id!, topic: topic!, attempt: Number(attempt) };
    });
}

/** Distinct message ids and the number of lines in a record file, optionally for one topic only. */
export function readRecord(path: string, topic?: string): { ids: Set<string>; lines: number } {
  const entries = readRecordEntries(path).filter((e) => topic === undefined || e.topic === topic);
  return { ids: new Set(entries.map((e) => e.id)), lines: entries.length };
}
