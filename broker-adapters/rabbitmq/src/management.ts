/**
 * The little of RabbitMQ's management HTTP API brokerkit uses: queue listings with arguments and
 * unacknowledged counts (AMQP itself cannot tell in-flight numbers or list queues). Its numbers
 * are refreshed by the server every few seconds (`collect_statistics_interval`, 5 s by default).
 *
 * On a cluster every node's management API answers for the whole cluster: given one URL per node,
 * the client sends each request to the node that answered last and moves on to the next ones
 * when it is unreachable (or answers 5xx, as a node does while it boots).
 */
import { BrokerError, BrokerUnavailableError } from '@brokerkit/core/adapter';

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

interface Endpoint {
  /** Base URL without credentials or trailing slash. */
  readonly base: string;
  readonly authorization: string;
}

/**
 * A client for the management API at `baseUrl` (credentials in the URL, as for amqp://), or at
 * the first answering one of several (one per cluster node).
 */
export class ManagementClient {
  readonly #endpoints: readonly Endpoint[];
  readonly #vhost: string;
  /** The endpoint that answered last: tried first. */
  #current = 0;

  constructor(baseUrls: URL | readonly URL[], vhost: string) {
    const list = baseUrls instanceof URL ? [baseUrls] : baseUrls;
    if (list.length === 0) throw new Error('ManagementClient needs at least one URL');
    this.#endpoints = list.map((baseUrl) => {
      const user = decodeURIComponent(baseUrl.username || 'guest');
      const password = decodeURIComponent(baseUrl.password || 'guest');
      const clean = new URL(baseUrl.href);
      clean.username = '';
      clean.password = '';
      clean.search = '';
      return {
        base: clean.href.replace(/\/+$/, ''),
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      };
    });
    this.#vhost = encodeURIComponent(vhost);
  }

  /** The management API base URL requests go to first (no credentials). */
  get endpoint(): string {
    return this.#endpoints[this.#current]!.base;
  }

  /** Every queue of the vhost. */
  async listQueues(): Promise<ManagedQueue[]> {
    const rows = (await this.#get(`/api/queues/${this.#vhost}?columns=${COLUMNS}`)) as QueueJson[];
    return rows.map(toManagedQueue);
  }

  /** GET `path` from the first endpoint that answers, starting with the one that answered last. */
  async #get(path: string, allowNotFound = false): Promise<unknown> {
    const n = this.#endpoints.length;
    const failures: string[] = [];
    const causes: unknown[] = [];
    for (let k = 0; k < n; k++) {
      const index = (this.#current + k) % n;
      const endpoint = this.#endpoints[index]!;
      let response: Response;
      try {
        response = await fetch(endpoint.base + path, {
          headers: { authorization: endpoint.authorization, accept: 'application/json' },
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (cause) {
        failures.push(`${endpoint.base} unreachable`);
        causes.push(cause);
        continue;
      }
      // A node that is booting or has lost its cluster answers 5xx: another node may know.
      if (response.status >= 500 && k < n - 1) {
        failures.push(`${endpoint.base} answered ${response.status}`);
        await response.body?.cancel();
        continue;
      }
      this.#current = index;
      return this.#read(response, path, allowNotFound);
    }
    const cause = causes.length === 1 ? causes[0] : new AggregateError(causes, 'every endpoint failed');
    throw new BrokerUnavailableError(
      n === 1
        ? `RabbitMQ management API at ${this.#endpoints[0]!.base} unreachable`
        : `no RabbitMQ management API answered: ${failures.join(', ')}`,
      { cause },
    );
  }

  async #read(response: Response, path: string, allowNotFound: boolean): Promise<unknown> {
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
