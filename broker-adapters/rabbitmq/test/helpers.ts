/**
 * Shared bits of the RabbitMQ adapter's tests: the broker URLs, a raw amqplib connection for
 * looking behind the adapter's back, and cleanup of queues by name.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { isReachable } from '@brokerkit/contract-tests';
// Brings the `rabbitmq` key of BrokerOptions into scope (declaration merging).
export type { RabbitMqOptions } from '@brokerkit/rabbitmq';

/** The shared RabbitMQ (`RABBITMQ_URL` overrides). */
export const RABBIT_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const RABBIT_HOST = new URL(RABBIT_URL).hostname;
export const RABBIT_PORT = Number(new URL(RABBIT_URL).port || 5672);
/** The management API (`RABBITMQ_MANAGEMENT_URL` overrides). */
export const MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';

/** True when the management plugin answers (CI enables it; a developer machine may not). */
export function managementReachable(): Promise<boolean> {
  const u = new URL(MANAGEMENT_URL);
  return isReachable(u.hostname, Number(u.port || 15672));
}

/** A raw amqplib connection, for checks the adapter's API does not expose. */
export class RawRabbit {
  private constructor(readonly model: ChannelModel) {}

  static async open(url = RABBIT_URL): Promise<RawRabbit> {
    const model = await amqp.connect(url, { noDelay: true });
    model.on('error', () => {});
    return new RawRabbit(model);
  }

  /** Run `work` on a fresh channel that is closed afterwards (a channel error stays contained). */
  async channel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.model.createChannel();
    channel.on('error', () => {});
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** The queue's ready count and consumers, or undefined when it does not exist. */
  async check(queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
    try {
      return await this.channel((c) => c.checkQueue(queue));
    } catch {
      return undefined;
    }
  }

  /** Delete queues by name (missing ones are fine). */
  async deleteQueues(...names: string[]): Promise<void> {
    await this.channel(async (c) => {
      for (const name of names) await c.deleteQueue(name);
    });
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => {});
  }
}

/** One queue as the management API shows it (fields the tests read). */
export interface ApiQueue {
  name: string;
  durable: boolean;
  exclusive: boolean;
  auto_delete: boolean;
  type?: string;
  arguments: Record<string, unknown>;
  messages?: number;
}

/** GET a management API path (JSON), or undefined on 404. */
export async function managementGet<T>(path: string): Promise<T | undefined> {
  const u = new URL(MANAGEMENT_URL);
  const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString(
    'base64',
  );
  const response = await fetch(`${u.protocol}//${u.host}${path}`, {
    headers: { authorization: `Basic ${auth}` },
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`management API ${path}: ${response.status}`);
  return (await response.json()) as T;
}

/** Every queue of the default vhost whose name starts with `prefix`. */
export async function apiQueues(prefix: string): Promise<ApiQueue[]> {
  const all = (await managementGet<ApiQueue[]>('/api/queues/%2F')) ?? [];
  return all.filter((q) => q.name.startsWith(prefix));
}
