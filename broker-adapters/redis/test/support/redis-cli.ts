// redis-cli as another client would use it: the interop tests write and read through it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';

/** True when redis-cli is installed. */
export function haveRedisCli(): boolean {
  return existsSync(REDIS_CLI_BIN);
}

/** Run `redis-cli --raw -p <port> <args…>` and resolve with its output, one value per line. */
export function redisCli(port: number, ...args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      REDIS_CLI_BIN,
      ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args],
      (error, stdout, stderr) => {
        if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${stderr || error.message}`));
        else resolve(stdout.split('\n').filter((line) => line.length > 0));
      },
    );
  });
}
