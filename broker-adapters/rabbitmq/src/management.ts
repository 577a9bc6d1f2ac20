/**
 * The little of RabbitMQ's management HTTP API brokerkit uses: queue listings with arguments and
 * unacknowledged counts (AMQP itself cannot tell in-flight numbers or list queues). Its numbers
 * are refreshed by the server every few seconds (`collect_statistics_interval`, 5 s by default).
 */
import { BrokerError, BrokerUnavailableError, redactUrl } from '@brokerkit/core';

/** One queue as the management API reports it (only the fields brokerkit reads). */
export interface ManagedQueue {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
  readonly messagesReady: number;
  readonly messagesUnacknowledged: number;
  /** Ready + unacknowledged. */
  readonly messages: number;
  readonly consumers: number;
}

interface QueueJson {
  name: string;
  arguments?: Record<string, unknown>;
  messages_ready?: number;
  messages_unacknowledged?: number;
  messages?: number;
  consumers?: number;
}

const COLUMNS = 'name,arguments,messages_ready,messages_unacknowledged,messages,consumers';
const REQUEST_TIMEOUT_MS = 5_000;

/** A client for the management API at `baseUrl` (credentials in the URL, as for amqp://). */
export class ManagementClient {
  readonly #base: string;
  readonly #authorization: string;
  readonly #vhost: string;

  constructor(baseUrl: URL, vhost: string) {
    const user = decodeURIComponent(baseUrl.username || 'guest');
    const password = decodeURIComponent(baseUrl.password || 'guest');
    this.#authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const clean = new URL(baseUrl.href);
    clean.username = '';
    clean.password = '';
    this.#base = clean.href.replace(/\/+$/, '');
    this.#vhost = encodeURIComponent(vhost);
  }

  /** Every queue of the vhost. */
  async listQueues(): Promise<ManagedQueue[]> {
    const rows = (await this.#get(`/api/queues/${this.#vhost}?columns=${COLUMNS}`)) as QueueJson[];
    return rows.map(toManagedQueue);
  }

  /** One queue, or undefined when it does not exist. */
  async queue(name: string): Promise<ManagedQueue | undefined> {
    const row = (await this.#get(`/api/queues/${this.#vhost}/${encodeURIComponent(name)}`, true)) as
      QueueJson | undefined;
    return row ? toManagedQueue(row) : undefined;
  }

  async #get(path: string, allowNotFound = false): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.#base + path, {
        headers: { authorization: this.#authorization, accept: 'application/json' },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (cause) {
      throw new BrokerUnavailableError(`RabbitMQ management API at ${redactUrl(this.#base)} unreachable`, {
        cause,
      });
    }
    if (allowNotFound && response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new BrokerError(
        `RabbitMQ management API answered ${response.status} for ${path}: ${text.slice(0, 200)}`,
      );
    }
    return response.json();
  }
}

function toManagedQueue(row: QueueJson): ManagedQueue {
  const ready = row.messages_ready ?? 0;
  const unacked = row.messages_unacknowledged ?? 0;
  return {
    name: row.name,
    arguments: row.arguments ?? {},
    messagesReady: ready,
    messagesUnacknowledged: unacked,
    messages: row.messages ?? ready + unacked,
    consumers: row.consumers ?? 0,
  };
}

/** The vhost an AMQP URL names: its path, `/` when empty. */
export function vhostOf(url: URL): string {
  const path = url.pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}
