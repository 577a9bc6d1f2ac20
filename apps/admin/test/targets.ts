/**
 * The brokers the admin tests run against: memory always; RabbitMQ and NATS when their adapter
 * is built and the server is reachable (`requireService`: skipped outside CI, failed in CI).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { requireService, uniqueName } from '@brokerkit/contract-tests';
import { resetMemoryBroker } from '@brokerkit/memory';
import type t from 'tap';

/** A tap test object. */
export type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** One broker to test against. */
export interface Target {
  readonly name: 'memory' | 'rabbitmq' | 'nats';
  /** Connect a fresh broker for one test, closed (and, for memory, reset) on teardown. */
  open(t: TapTest, options?: BrokerOptions): Promise<Broker | undefined>;
}

const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const built = (adapter: string): boolean =>
  existsSync(fileURLToPath(new URL(`../../../broker-adapters/${adapter}/dist/index.js`, import.meta.url)));

const fast: BrokerOptions = { retry: { attempts: 1 }, connectTimeoutMs: 5_000 };

function remote(name: 'rabbitmq' | 'nats', url: string): Target {
  const { hostname, port } = new URL(url);
  return {
    name,
    async open(t, options) {
      if (!(await requireService(t, name, hostname, Number(port)))) return undefined;
      const broker = await connect(url, { ...fast, ...options });
      t.teardown(() => broker.close());
      return broker;
    },
  };
}

const memory: Target = {
  name: 'memory',
  async open(t, options) {
    const name = uniqueName('admin');
    const broker = await connect(`memory://${name}`, { ...fast, ...options });
    t.teardown(async () => {
      await broker.close();
      resetMemoryBroker(name);
    });
    return broker;
  },
};

/**
 * Every target whose adapter is built. An adapter not built yet is left out with a comment (it
 * lands in its own issue); a built one whose server is down skips or fails via requireService.
 */
export function targets(t: TapTest): Target[] {
  const list: Target[] = [memory];
  for (const [name, url] of [
    ['rabbitmq', RABBITMQ_URL],
    ['nats', NATS_URL],
  ] as const) {
    if (built(name)) list.push(remote(name, url));
    // In CI every adapter is built by `npm test`; a missing one is a failure, not a skip.
    else if (process.env.CI === 'true') t.fail(`${name} adapter not built`);
    else t.comment(`${name} adapter not built: admin tests run on memory only`);
  }
  return list;
}
