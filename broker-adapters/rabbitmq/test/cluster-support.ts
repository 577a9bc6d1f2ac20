/**
 * Support for the RabbitMQ cluster tests, on top of the loopback cluster helpers of
 * `@brokerkit/contract-tests` (scripts/cluster.sh): a timed `kill -9`, which node a brokerkit
 * connection is on (management API, by connection name), queue documents, and a load generator
 * that counts attempted / confirmed / received / lost / duplicated and measures failover times.
 */
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, BrokerStatus, Message } from '@brokerkit/core';
import {
  Tally,
  clusterInfo,
  ensureCluster,
  nodeNumber,
  startNode,
  uniqueName,
  waitFor,
} from '@brokerkit/contract-tests';
import type { ClusterInfo } from '@brokerkit/contract-tests';
// Brings the `rabbitmq` key of BrokerOptions into scope (declaration merging).
export type { RabbitMqOptions } from '@brokerkit/rabbitmq';

/** GET a management API path from the first node that answers (JSON), undefined on 404. */
export async function management<T>(info: ClusterInfo, path: string): Promise<T | undefined> {
  const errors: string[] = [];
  for (const base of info.managementUrls ?? []) {
    const u = new URL(base);
    const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`);
    try {
      const response = await fetch(`${u.protocol}//${u.host}${path}`, {
        headers: { authorization: `Basic ${auth.toString('base64')}` },
        signal: AbortSignal.timeout(3000),
      });
      if (response.status === 404) return undefined;
      if (response.ok) return (await response.json()) as T;
      errors.push(`${u.host}: ${response.status}`);
    } catch (error) {
      errors.push(`${u.host}: ${(error as Error).message}`);
    }
  }
  throw new Error(`management API ${path}: no node answered (${errors.join('; ')})`);
}

/** One queue as the management API shows it (the fields the tests read). */
export interface ClusterQueue {
  name: string;
  type?: string;
  durable: boolean;
  exclusive: boolean;
  arguments: Record<string, unknown>;
  node?: string;
  leader?: string;
  members?: string[];
  online?: string[];
  messages?: number;
}

/** The queue's management document, or undefined when it does not exist. */
export function clusterQueue(info: ClusterInfo, name: string): Promise<ClusterQueue | undefined> {
  return management<ClusterQueue>(info, `/api/queues/%2F/${encodeURIComponent(name)}?disable_stats=true`);
}

/**
 * The nodes (1-based) a broker opened with `rabbitmq.connectionName: name` is connected to: its
 * consuming connection (`name`) and its publishing one (`name publish`). Waits until both show.
 */
export async function connectionNodes(
  info: ClusterInfo,
  name: string,
  timeoutMs = 15_000,
): Promise<{ consuming: number; publishing: number }> {
  type Row = { node: string; client_properties?: { connection_name?: string } };
  let found: { consuming?: number; publishing?: number } = {};
  await waitFor(
    async () => {
      const rows = (await management<Row[]>(info, '/api/connections?columns=node,client_properties')) ?? [];
      found = {};
      for (const row of rows) {
        const n = row.client_properties?.connection_name;
        if (n === name) found.consuming = nodeNumber(info, row.node);
        if (n === `${name} publish`) found.publishing = nodeNumber(info, row.node);
      }
      return found.consuming !== undefined && found.publishing !== undefined;
    },
    { timeoutMs, intervalMs: 200, message: () => `connections of "${name}": ${JSON.stringify(found)}` },
  );
  return found as { consuming: number; publishing: number };
}

/** `kill -9` node `n` directly (no script in between, for exact timing); resolves the kill time. */
export async function killNodeTimed(n: number): Promise<number> {
  const info = await clusterInfo('rabbitmq');
  const pid = info.members[n - 1]?.pid;
  if (!pid) throw new Error(`rabbitmq node ${n} is not running`);
  const at = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitFor(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs: 10_000, message: `pid ${pid} still alive` },
  );
  return at;
}

/**
 * Restart node `killed` (if given: a node held down by `cluster.sh kill` is not revived by a plain
 * `start`) and whatever else is down; resolves once all three are running members again.
 */
export async function healCluster(killed?: number): Promise<ClusterInfo> {
  if (killed !== undefined) await startNode('rabbitmq', killed);
  return ensureCluster('rabbitmq');
}

/** Wait until every member of quorum queue `name` is online (after a node came back). */
export async function waitQueueOnline(info: ClusterInfo, name: string, timeoutMs = 60_000): Promise<void> {
  let last: ClusterQueue | undefined;
  await waitFor(
    async () => {
      last = await clusterQueue(info, name).catch(() => undefined);
      return last?.online?.length === info.nodes && last.leader !== undefined;
    },
    { timeoutMs, intervalMs: 250, message: () => `queue ${name}: online ${JSON.stringify(last?.online)}` },
  );
}

/** Options of a broker on the cluster: failover-friendly reconnects, every management API. */
export function clusterOptions(
  info: ClusterInfo,
  connectionName: string,
  extra: BrokerOptions = {},
): BrokerOptions {
  return {
    reconnect: { initialMs: 50, maxMs: 1_000 },
    ...extra,
    rabbitmq: {
      connectionName,
      managementUrl: (info.managementUrls ?? []).join(','),
      ...extra.rabbitmq,
    },
  };
}

/** The payload of every message of a {@link Load}. */
interface Payload {
  k: string;
  i: number;
  /** Date.now() when the publish started. */
  t: number;
}

/** What a load run counted. */
export interface LoadReport {
  attempted: number;
  confirmed: number;
  failed: number;
  failureCodes: Record<string, number>;
  received: number;
  distinct: number;
  duplicated: number;
  lost: number;
  /** First attempts that failed on purpose and went through a retry bucket. */
  retried: number;
  statuses: BrokerStatus[];
  /** ms from the fault to the first confirm of a publish started after it. */
  firstConfirmAfterFaultMs: number | undefined;
  /** ms from the fault to the first delivery of a message published after it. */
  firstDeliveryAfterFaultMs: number | undefined;
  /** ms from the fault to the broker reporting `ready` again (when it reported an outage). */
  readyAfterFaultMs: number | undefined;
  /** The broker's `error` events, by code and message shape (digits elided), with counts. */
  errors: Record<string, number>;
  /** When something was lost: a few of the keys, how many went through a retry, and where messages sit now. */
  lostDetail?: { sample: string[]; retriedOnes: number; queues: Record<string, QueueCounts> };
}

/** Where a queue's messages are, per the management API (absent fields: not reported). */
export interface QueueCounts {
  messages?: number;
  ready?: number;
  unacked?: number;
  /** Quorum queues: expired messages the dead-letter worker holds (at-least-once), not deliverable. */
  dlx?: number;
  consumers?: number;
  leader?: string;
}

/** Options of {@link Load.open}. */
export interface LoadOptions {
  info: ClusterInfo;
  /** Publish lanes to the group's topic. */
  publishLanes?: number;
  /** Send lanes to the work queue (0: no work queue). */
  sendLanes?: number;
  /** Pause of each lane between two publishes, to keep the rate moderate (ms). */
  paceMs?: number;
  /** Every n-th message fails its first attempt (retry through a quorum bucket). 0: none. */
  failEvery?: number;
  /** timeoutMs of each publish. */
  timeoutMs?: number;
  brokerOptions?: BrokerOptions;
  /** Called before the broker subscribes (e.g. to pre-declare the group on a chosen node). */
  beforeSubscribe?: (names: {
    group: string;
    queue: string;
    topic: string;
    connectionName: string;
  }) => Promise<void>;
}

/**
 * One broker on the cluster publishing to a group and sending to a work queue it also consumes,
 * lane by lane, until stopped; with exact accounting and the failover times around one fault.
 */
export class Load {
  readonly group: string;
  readonly queue: string;
  readonly topic: string;
  readonly connectionName: string;
  readonly statuses: BrokerStatus[] = [];
  readonly errors: Error[] = [];
  readonly confirmed = new Set<string>();
  readonly tally = new Tally();
  attempted = 0;
  failed = 0;
  retried = 0;
  readonly failureCodes: Record<string, number> = {};
  #faultAt: number | undefined;
  #readyAt: number | undefined;
  #confirmAfter: number | undefined;
  #deliveryAfter: number | undefined;
  #confirmedAfterFault = 0;
  #next = 0;
  #running = false;
  #lanes: Array<Promise<void>> = [];

  private constructor(
    readonly broker: Broker,
    private readonly options: LoadOptions,
    names: { group: string; queue: string; topic: string; connectionName: string },
  ) {
    this.group = names.group;
    this.queue = names.queue;
    this.topic = names.topic;
    this.connectionName = names.connectionName;
  }

  /** Connect, subscribe the group and consume the work queue. */
  static async open(options: LoadOptions): Promise<Load> {
    const names = {
      group: uniqueName('cg'),
      queue: uniqueName('cq'),
      topic: `${uniqueName('ct')}.ev`,
      connectionName: uniqueName('bk-cluster'),
    };
    const broker = await connect(
      options.info.url,
      clusterOptions(options.info, names.connectionName, {
        publishTimeoutMs: options.timeoutMs ?? 20_000,
        ...options.brokerOptions,
      }),
    );
    const load = new Load(broker, options, names);
    broker.on('status', (s) => {
      load.statuses.push(s);
      if (s === 'ready' && load.#faultAt !== undefined && load.#readyAt === undefined)
        load.#readyAt = Date.now();
    });
    broker.on('error', (e) => load.errors.push(e));
    await options.beforeSubscribe?.(names);
    const retry = { attempts: 10, backoff: { initialMs: 100, factor: 1, jitter: false } };
    await broker.subscribe(load.topic, (m) => load.#handle(m), { group: load.group, concurrency: 10, retry });
    if ((options.sendLanes ?? 5) > 0)
      await broker.consume(load.queue, (m) => load.#handle(m), { concurrency: 10, retry });
    return load;
  }

  #handle(m: Message): void {
    const d = m.data as Payload;
    const failEvery = this.options.failEvery ?? 0;
    if (failEvery > 0 && d.i % failEvery === 0 && m.attempt === 1) {
      this.retried++;
      throw new Error('first attempt fails on purpose');
    }
    this.tally.add(d.k);
    if (this.#faultAt !== undefined && d.t >= this.#faultAt && this.#deliveryAfter === undefined)
      this.#deliveryAfter = Date.now() - this.#faultAt;
  }

  /** Start the lanes. */
  start(): void {
    this.#running = true;
    const lane = async (kind: 'publish' | 'send') => {
      while (this.#running) {
        const i = this.#next++;
        const k = `${kind}-${i}`;
        const payload: Payload = { k, i, t: Date.now() };
        this.attempted++;
        try {
          if (kind === 'publish') await this.broker.publish(this.topic, payload);
          else await this.broker.send(this.queue, payload);
          this.confirmed.add(k);
          if (this.#faultAt !== undefined && payload.t >= this.#faultAt) {
            this.#confirmedAfterFault++;
            this.#confirmAfter ??= Date.now() - this.#faultAt;
          }
        } catch (error) {
          this.failed++;
          const code = isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`;
          this.failureCodes[code] = (this.failureCodes[code] ?? 0) + 1;
        }
        const pace = this.options.paceMs ?? 10;
        if (pace > 0) await new Promise((r) => setTimeout(r, pace));
      }
    };
    for (let i = 0; i < (this.options.publishLanes ?? 10); i++) this.#lanes.push(lane('publish'));
    for (let i = 0; i < (this.options.sendLanes ?? 5); i++) this.#lanes.push(lane('send'));
  }

  /** Mark the moment of the fault (failover times are measured from it). */
  fault(at = Date.now()): void {
    this.#faultAt = at;
    this.#readyAt = undefined;
    this.#confirmAfter = undefined;
    this.#deliveryAfter = undefined;
    this.#confirmedAfterFault = 0;
  }

  /** Wait until `n` publishes are confirmed in all. */
  untilConfirmed(n: number, timeoutMs = 60_000): Promise<unknown> {
    return waitFor(() => this.confirmed.size >= n, {
      timeoutMs,
      intervalMs: 20,
      message: () => `${this.confirmed.size} of ${n} confirmed`,
    });
  }

  /** Wait until `n` publishes started after the fault are confirmed. */
  untilConfirmedAfterFault(n: number, timeoutMs = 60_000): Promise<unknown> {
    return waitFor(() => this.#confirmedAfterFault >= n, {
      timeoutMs,
      intervalMs: 20,
      message: () => `${this.#confirmedAfterFault} of ${n} confirmed after the fault`,
    });
  }

  /** Stop the lanes and wait for the publishes in flight to settle. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#lanes);
  }

  /**
   * Wait until every confirmed message was handled (or `timeoutMs` passed), then check with a
   * sentinel published now that the group subscription still delivers.
   */
  async drain(timeoutMs = 45_000): Promise<void> {
    await waitFor(() => this.tally.lost(this.confirmed).length === 0, {
      timeoutMs,
      intervalMs: 50,
      message: () => `${this.tally.lost(this.confirmed).length} confirmed messages still missing`,
    }).catch(() => {});
    const sentinel = uniqueName('sentinel');
    await this.broker.publish(this.topic, { k: sentinel, i: -1, t: Date.now() } satisfies Payload);
    await waitFor(() => this.tally.counts.has(sentinel), { timeoutMs: 30_000, message: 'sentinel' });
    this.tally.counts.delete(sentinel);
    this.tally.total--;
  }

  /** {@link report}, with where the lost messages might be when some are missing. */
  async fullReport(): Promise<LoadReport> {
    const report = this.report();
    if (report.lost === 0) return report;
    const lost = this.tally.lost(this.confirmed);
    const failEvery = this.options.failEvery ?? 0;
    const queues: Record<string, QueueCounts> = {};
    type Row = {
      name: string;
      messages?: number;
      messages_ready?: number;
      messages_unacknowledged?: number;
      messages_dlx?: number;
      consumers?: number;
      leader?: string;
    };
    const columns = 'name,messages,messages_ready,messages_unacknowledged,messages_dlx,consumers,leader';
    const rows = (await management<Row[]>(this.options.info, `/api/queues/%2F?columns=${columns}`)) ?? [];
    for (const row of rows)
      if (row.name.startsWith(this.group) || row.name.startsWith(this.queue))
        queues[row.name] = {
          messages: row.messages,
          ready: row.messages_ready,
          unacked: row.messages_unacknowledged,
          dlx: row.messages_dlx,
          consumers: row.consumers,
          leader: row.leader,
        };
    return {
      ...report,
      lostDetail: {
        sample: lost.slice(0, 10),
        retriedOnes: lost.filter((k) => failEvery > 0 && Number(k.split('-')[1]) % failEvery === 0).length,
        queues,
      },
    };
  }

  report(): LoadReport {
    return {
      attempted: this.attempted,
      confirmed: this.confirmed.size,
      failed: this.failed,
      failureCodes: this.failureCodes,
      received: this.tally.total,
      distinct: this.tally.distinct,
      duplicated: this.tally.duplicated,
      lost: this.tally.lost(this.confirmed).length,
      retried: this.retried,
      statuses: this.statuses,
      firstConfirmAfterFaultMs: this.#confirmAfter,
      firstDeliveryAfterFaultMs: this.#deliveryAfter,
      readyAfterFaultMs:
        this.#readyAt !== undefined && this.#faultAt !== undefined
          ? this.#readyAt - this.#faultAt
          : undefined,
      errors: this.#errorSummary(),
    };
  }

  #errorSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.errors) {
      const code = isBrokerkitError(e) ? e.code : 'untyped';
      const key = `${code}: ${e.message.replace(/\d+/g, 'N').slice(0, 160)}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  /** Close the broker and delete the queues (with their dead-letter queues and retry buckets). */
  async cleanup(): Promise<void> {
    await this.broker.close().catch(() => {});
    const janitor = await connect(
      this.options.info.url,
      clusterOptions(this.options.info, uniqueName('janitor')),
    );
    for (const name of [this.group, this.queue]) await janitor.inspector!.deleteQueue(name).catch(() => {});
    await janitor.close();
  }
}
