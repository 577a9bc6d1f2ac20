// Test support for the NATS cluster tests: the loopback 3-node JetStream cluster of
// scripts/cluster.sh (started on demand, never stopped here), which node a brokerkit connection
// is on, which node leads a stream, node faults, and a wait for the cluster to be healthy again.
import { readFileSync } from 'node:fs';
import { connect as natsConnect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import type { Test } from 'tap';
import { connect, isBrokerkitError, type Broker } from '@brokerkit/core';
import {
  clusterInfo,
  killNode as killClusterNode,
  pauseNode as pauseClusterNode,
  requireCluster,
  resumeNode as resumeClusterNode,
  startNode as startClusterNode,
  ensureCluster,
  uniqueName,
  waitFor,
} from '@brokerkit/contract-tests';
import { consumerName, dlqStreamName, eventStreamName } from '../src/names.js';

/** One node of the loopback cluster (1-based `index`, server name `bk<index>`). */
export interface ClusterNode {
  readonly index: number;
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
}

/** The cluster as scripts/cluster.sh describes it. */
export interface NatsCluster {
  /** The comma-separated URL list brokerkit connects with. */
  readonly urls: string;
  readonly nodes: readonly ClusterNode[];
}

/**
 * The running cluster (started if it is not up), or undefined after skipping the test (outside
 * CI: nats-server missing or the cluster did not start) or failing it (CI).
 */
export async function natsCluster(t: Test): Promise<NatsCluster | undefined> {
  const info = await requireCluster(t, 'nats');
  if (!info) return undefined;
  const nodes = info.members.map((n, i) => ({
    index: i + 1,
    name: n.name,
    url: n.url,
    port: Number(new URL(n.url).port),
    monitorUrl: n.monitorUrl ?? '',
  }));
  return { urls: info.url, nodes };
}

/** The process state letter of `pid` (`S`, `R`, `T` stopped, `Z` zombie), undefined when gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Run `action` (a cluster.sh command signalling node `n`) and return when the signal took effect
 * (ms since the epoch), watching the process: the script's own start-up and wait are not part of
 * a failover time.
 */
async function signalled(
  n: number,
  done: (state: string | undefined) => boolean,
  action: () => Promise<void>,
): Promise<number> {
  const pid = (await clusterInfo('nats')).members[n - 1]?.pid;
  let at: number | undefined;
  const watch = setInterval(() => {
    if (at === undefined && pid != null && done(procState(pid))) at = Date.now();
  }, 1);
  try {
    await action();
  } finally {
    clearInterval(watch);
  }
  return at ?? Date.now();
}

/** kill -9 node `n` (held down until {@link startNode}); resolves with when it died. */
export const killNode = (n: number): Promise<number> =>
  signalled(
    n,
    (s) => s === undefined || s === 'Z',
    () => killClusterNode('nats', n),
  );
/** Start node `n` again with its data; resolves once it is up and sees a meta leader. */
export const startNode = (n: number): Promise<void> => startClusterNode('nats', n);
/** SIGSTOP node `n`; resolves with when it stopped. */
export const pauseNode = (n: number): Promise<number> =>
  signalled(
    n,
    (s) => s === 'T',
    () => pauseClusterNode('nats', n),
  );
/** SIGCONT node `n`. */
export const resumeNode = (n: number): Promise<void> => resumeClusterNode('nats', n);

/**
 * A clean stop of node `n` (SIGTERM, as a rolling restart does), resolving once the process is
 * gone. cluster.sh has no single-node stop; a node stopped here is down until {@link startNode}
 * (or a `cluster.sh start`, which nothing calls in between).
 */
export async function stopNode(n: number): Promise<number> {
  const pid = (await clusterInfo('nats')).members[n - 1]?.pid;
  if (pid == null) return Date.now();
  process.kill(pid, 'SIGTERM');
  return waitFor(
    () => {
      const s = procState(pid);
      return s === undefined || s === 'Z' ? Date.now() : 0;
    },
    { timeoutMs: 30_000, intervalMs: 5, message: `node ${n} (pid ${pid}) to stop` },
  );
}

/** Node index of a server name `bk<n>`. */
export function nodeIndex(cluster: NatsCluster, serverName: string | undefined): number | undefined {
  return cluster.nodes.find((n) => n.name === serverName)?.index;
}

/**
 * The node a client connection named `connectionName` is on, from the nodes' monitoring
 * (`/connz`); undefined when no live node lists it. Paused nodes do not answer and are skipped.
 */
export async function nodeOfConnection(
  cluster: NatsCluster,
  connectionName: string,
): Promise<number | undefined> {
  for (const node of cluster.nodes) {
    try {
      const res = await fetch(`${node.monitorUrl}/connz?limit=1024`, { signal: AbortSignal.timeout(1_000) });
      const body = (await res.json()) as { connections?: { name?: string }[] };
      if (body.connections?.some((c) => c.name === connectionName)) return node.index;
    } catch {
      // Down or paused.
    }
  }
  return undefined;
}

/** A raw nats.js client on the whole cluster (for stream info and cleanup), closed in teardown. */
export async function rawClusterClient(
  t: Test,
  cluster: NatsCluster,
): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await natsConnect({
    servers: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    pingInterval: 1_000,
  });
  t.teardown(() => nc.close());
  return { nc, jsm: await jetstreamManager(nc, { timeout: 3_000 }) };
}

/** The node leading `stream` (retried through elections). */
export async function streamLeader(
  cluster: NatsCluster,
  jsm: JetStreamManager,
  stream: string,
): Promise<number> {
  return waitFor(
    async () => {
      const info = await jsm.streams.info(stream).catch(() => undefined);
      return nodeIndex(cluster, info?.cluster?.leader);
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `a leader of ${stream}` },
  );
}

/** A stream whose leader is elected and whose replicas are all current and online. */
export function streamHealthy(info: StreamInfo | undefined): boolean {
  const c = info?.cluster;
  if (!info || !c?.leader) return false;
  const replicas = c.replicas ?? [];
  return replicas.length === info.config.num_replicas - 1 && replicas.every((r) => r.current && !r.offline);
}

/**
 * Wait until every node runs, the meta group has a leader, and every stream on the cluster (and
 * each consumer of `streams`) has a leader with all replicas current. Streams of other tests that
 * are being deleted may vanish meanwhile; that is fine.
 */
export async function waitHealthy(
  cluster: NatsCluster,
  jsm: JetStreamManager,
  streams: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<void> {
  await ensureCluster('nats'); // no-op when all three run
  let why = '';
  await waitFor(
    async () => {
      try {
        for (const node of cluster.nodes) {
          const res = await fetch(`${node.monitorUrl}/jsz`, { signal: AbortSignal.timeout(1_000) });
          const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
          if (!jsz.meta_cluster?.leader) return !(why = `${node.name} sees no meta leader`);
        }
        for await (const info of jsm.streams.list()) {
          if (!streamHealthy(info)) return !(why = `stream ${info.config.name} not healthy`);
        }
        for (const stream of streams) {
          const lister = jsm.consumers.list(stream);
          for await (const c of lister) {
            const cc = c.cluster;
            if (!cc?.leader || !(cc.replicas ?? []).every((r) => r.current && !r.offline))
              return !(why = `consumer ${c.name} on ${stream} not healthy`);
          }
        }
        return true;
      } catch (error) {
        return !(why = String(error));
      }
    },
    { timeoutMs, intervalMs: 250, message: () => `cluster healthy: ${why}` },
  );
}

/** Delete streams, ignoring the ones that do not exist (retried while the cluster settles). */
export async function deleteClusterStreams(jsm: JetStreamManager, names: readonly string[]): Promise<void> {
  for (const name of names) {
    for (let i = 0; i < 5; i++) {
      const done = await jsm.streams.delete(name).then(
        () => true,
        (e: unknown) => /not found/i.test(String(e)),
      );
      if (done) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** What the publishers and consumers of a fault test counted. */
export interface Counts {
  attempted: number;
  confirmed: string[];
  failures: string[];
}

/** Failure codes that are allowed: typed, transient. */
export function untypedFailures(failures: readonly string[]): string[] {
  return failures.filter((c) => c !== 'BK_UNAVAILABLE' && c !== 'BK_TIMEOUT');
}

/**
 * A publisher that keeps `window` publishes in flight until stopped, with timestamps: when each
 * publish started and was confirmed (for failover times).
 */
export class LoadPublisher {
  readonly confirmed: string[] = [];
  readonly failures: string[] = [];
  readonly confirmedAt = new Map<string, number>();
  readonly startedAt = new Map<string, number>();
  attempted = 0;
  #stop = false;
  #lanes: Promise<void>[] = [];

  constructor(
    private readonly broker: Broker,
    private readonly topic: string,
    private readonly options: { window: number; max: number; timeoutMs?: number; prefix?: string },
  ) {}

  start(): this {
    const { window, max, timeoutMs, prefix = 'm' } = this.options;
    const lane = async () => {
      while (!this.#stop && this.attempted < max) {
        const key = `${prefix}${this.attempted++}`;
        this.startedAt.set(key, Date.now());
        try {
          await this.broker.publish(this.topic, { key }, timeoutMs === undefined ? {} : { timeoutMs });
          this.confirmed.push(key);
          this.confirmedAt.set(key, Date.now());
        } catch (error) {
          this.failures.push(isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`);
        }
      }
    };
    this.#lanes = Array.from({ length: window }, lane);
    return this;
  }

  /** Resolves once `max` publishes were attempted and settled. */
  async finished(): Promise<void> {
    await Promise.all(this.#lanes);
  }

  /** Stop starting publishes; resolves once the in-flight ones settled. */
  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#lanes);
  }

  /** Time from `t0` to the first confirmation of a publish started at or after `t0`. */
  firstConfirmedAfter(t0: number): number | undefined {
    let best: number | undefined;
    for (const [key, at] of this.confirmedAt) {
      if ((this.startedAt.get(key) ?? 0) < t0) continue;
      if (best === undefined || at < best) best = at;
    }
    return best === undefined ? undefined : best - t0;
  }
}

/** Deliveries by key, with their arrival times (first arrival kept) and redelivery flags. */
export class Received {
  readonly counts = new Map<string, number>();
  readonly firstAt = new Map<string, number>();
  total = 0;
  /** Deliveries of a key beyond its first that the server marked as redelivered. */
  redeliveries = 0;
  /** When each delivery arrived. */
  readonly arrivals: number[] = [];

  add(key: string, redelivered: boolean): void {
    this.total++;
    this.arrivals.push(Date.now());
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    if (n === 0) this.firstAt.set(key, Date.now());
    else if (redelivered) this.redeliveries++;
  }

  get duplicated(): number {
    return this.total - this.counts.size;
  }

  lost(expected: Iterable<string>): string[] {
    const out: string[] = [];
    for (const key of expected) if (!this.counts.has(key)) out.push(key);
    return out;
  }

  /** Time from `t0` to the first delivery of a message that was published at or after `t0`. */
  firstDeliveryAfter(t0: number, publisher: LoadPublisher): number | undefined {
    let best: number | undefined;
    for (const [key, at] of this.firstAt) {
      if ((publisher.startedAt.get(key) ?? 0) < t0) continue;
      if (best === undefined || at < best) best = at;
    }
    return best === undefined ? undefined : best - t0;
  }
}

// ------------------------------------------------------------------------------------------------
// One fault scenario: a group consuming while a publisher streams; a fault; recovery; the count.
// ------------------------------------------------------------------------------------------------

/** What a scenario's fault step gets. */
export interface FaultContext {
  readonly cluster: NatsCluster;
  /** A raw client on the cluster (not the broker's connection). */
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly broker: Broker;
  /** The connection name the broker shows in the servers' monitoring. */
  readonly connectionName: string;
  /** The groups' event stream. */
  readonly stream: string;
  readonly publisher: LoadPublisher;
  /** What the first group received (failover times are taken from it). */
  readonly received: Received;
  /** What every group received, the first one included. */
  readonly receivedByGroup: readonly Received[];
  /** `disconnected` / `reconnected` events of the broker, with when they fired. */
  readonly events: ReadonlyArray<readonly [string, number]>;
  comment(message: string): void;
}

/** A scenario. `fault` disturbs the cluster and returns when (ms) the failure began. */
export interface FaultScenario {
  /** Short name: first token prefix, connection name. */
  readonly name: string;
  /** Extra `nats` options of the broker under test. */
  readonly nats?: Record<string, unknown>;
  /** Confirmed publishes before the fault. */
  readonly before?: number;
  /**
   * Groups consuming the topic (default 2): every one must get every confirmed message. Two
   * groups share one event stream, the case where a replicated interest stream lost messages.
   */
  readonly groups?: number;
  /** Confirmed publishes after the failure began, before the publisher stops. */
  readonly after?: number;
  fault(ctx: FaultContext): Promise<number>;
  /** Bring the cluster back to three nodes (restart what the fault stopped). */
  recover(ctx: FaultContext): Promise<void>;
}

/** Counts of one run, printed as comments and returned for extra checks. */
export interface ScenarioResult {
  attempted: number;
  confirmed: number;
  failed: number;
  received: number;
  /** Confirmed messages missing, summed over the groups. */
  lost: number;
  /** Deliveries beyond the first of a message, summed over the groups. */
  duplicated: number;
  /** Deliveries the server marked as redelivered (ack lost or unacked when a path died). */
  redelivered: number;
  /** Messages stored twice (publish duplicates), from a group that only read at the end. */
  storedTwice: number;
  firstConfirmedMs: number | undefined;
  /** From the fault to the first delivery of a message published after it. */
  firstDeliveryMs: number | undefined;
  /** Longest time without any publish confirmed, from the fault on. */
  longestGapMs: number;
  /** Longest time without any delivery, from the fault on (how long the group stalled). */
  longestDeliveryGapMs: number;
  failures: string[];
  events: string[];
}

/** Run one scenario on the cluster; undefined when the test was skipped. */
export async function runFaultScenario(
  t: Test,
  scenario: FaultScenario,
): Promise<ScenarioResult | undefined> {
  const cluster = await natsCluster(t);
  if (!cluster) return undefined;
  const { nc, jsm } = await rawClusterClient(t, cluster);
  // A cluster left unhealthy by an earlier run or test would distort this one.
  await waitHealthy(cluster, jsm);

  const token = uniqueName(`cl${scenario.name}`);
  const groups = Array.from({ length: scenario.groups ?? 2 }, (_, i) => uniqueName(`g${i + 1}`));
  const group = groups[0]!;
  const stream = eventStreamName(token);
  const streams = [stream, ...groups.map(dlqStreamName)];
  t.teardown(() => deleteClusterStreams(jsm, streams));

  const connectionName = uniqueName(`bk-${scenario.name}`);
  const broker = await connect(cluster.urls, {
    publishTimeoutMs: 30_000,
    reconnect: { initialMs: 50, maxMs: 500 },
    // Deliveries lost with a dead path come back after the ack wait: keep it short here.
    nats: { name: connectionName, ackWaitMs: 5_000, ...scenario.nats },
  });
  t.teardown(() => broker.close());
  const events: string[] = [];
  const eventAt: Array<[string, number]> = [];
  broker.on(
    'disconnected',
    () => void (events.push('disconnected'), eventAt.push(['disconnected', Date.now()])),
  );
  broker.on(
    'reconnected',
    () => void (events.push('reconnected'), eventAt.push(['reconnected', Date.now()])),
  );
  const errors: string[] = [];
  broker.on('error', (e) => errors.push(String(e)));

  const receivedByGroup = groups.map(() => new Received());
  const received = receivedByGroup[0]!;
  for (const [i, g] of groups.entries()) {
    const r = receivedByGroup[i]!;
    await broker.subscribe(`${token}.*`, (m) => r.add((m.data as { key: string }).key, m.redelivered), {
      group: g,
      concurrency: 16,
      prefetch: 128,
    });
  }
  const lostInAnyGroup = () => receivedByGroup.reduce((n, r) => n + r.lost(publisher.confirmed).length, 0);
  const info = await jsm.streams.info(stream);
  t.equal(info.config.num_replicas, 3, 'the event stream has 3 replicas');
  // Every stored copy takes a stream sequence: stored − distinct keys received = stored twice.
  const seq0 = info.state.last_seq;

  const publisher = new LoadPublisher(broker, `${token}.x`, { window: 32, max: 1_000_000 }).start();
  const ctx: FaultContext = {
    cluster,
    nc,
    jsm,
    broker,
    connectionName,
    stream,
    publisher,
    received,
    receivedByGroup,
    events: eventAt,
    comment: (m) => t.comment(m),
  };
  const before = scenario.before ?? 1_000;
  await waitFor(() => publisher.confirmed.length >= before, {
    timeoutMs: 30_000,
    message: () => `${before} confirmed before the fault (have ${publisher.confirmed.length})`,
  });
  const leaderBefore = (await jsm.streams.info(stream)).cluster?.leader;
  const consumerLeaderBefore = (await jsm.consumers.info(stream, consumerName(group))).cluster?.leader;
  const t0 = await scenario.fault(ctx);
  t.comment(
    `timeline: fault done at m${publisher.attempted} (stream leader was ${leaderBefore}, the group's consumer leader ${consumerLeaderBefore})`,
  );
  const after = scenario.after ?? 1_000;
  await waitFor(
    () => {
      const c = publisher.firstConfirmedAfter(t0);
      if (c === undefined) return false;
      let n = 0;
      for (const [key] of publisher.confirmedAt) if ((publisher.startedAt.get(key) ?? 0) >= t0) n++;
      return n >= after && received.firstDeliveryAfter(t0, publisher) !== undefined;
    },
    {
      timeoutMs: 60_000,
      message: () =>
        `${after} publishes confirmed and one delivered after the fault (confirmed ${publisher.confirmed.length}, failures ${publisher.failures.length}, received ${received.total})`,
    },
  );
  const firstConfirmedMs = publisher.firstConfirmedAfter(t0);
  const firstDeliveryMs = received.firstDeliveryAfter(t0, publisher);
  t.comment(
    `timeline: first confirmed ${fmtMs(firstConfirmedMs)}, first delivery ${fmtMs(firstDeliveryMs)}; ` +
      eventAt.map(([e, at]) => `${e} ${fmtMs(at - t0)}`).join(', '),
  );
  t.comment(`timeline: recovering at m${publisher.attempted}`);
  await scenario.recover(ctx);
  t.comment(
    `timeline: recovered at m${publisher.attempted}; leader ${(await jsm.streams.info(stream)).cluster?.leader}`,
  );
  await publisher.stop();
  const stoppedAt = Date.now();
  t.comment(`timeline: stopped at m${publisher.attempted}`);
  await waitHealthy(cluster, jsm, [stream]);

  await waitFor(() => lostInAnyGroup() === 0, {
    timeoutMs: 45_000,
    message: () =>
      `lost ${receivedByGroup.map((r) => r.lost(publisher.confirmed).length).join(' / ')} of ${publisher.confirmed.length} (per group)`,
  });
  // The groups consume on, on the same subscriptions: nothing was re-subscribed by the test.
  await broker.publish(`${token}.after`, { key: 'after' });
  await waitFor(() => receivedByGroup.every((r) => r.counts.has('after')), {
    timeoutMs: 30_000,
    message: 'a publish after recovery, in every group',
  });
  t.pass('every group consumes on after the failover without being re-subscribed');
  t.equal(broker.status, 'ready', 'broker.status is ready');

  // Copies still on their way (redeliveries, stored-but-unconfirmed publishes) arrive now.
  let quietSince = Date.now();
  const totalReceived = () => receivedByGroup.reduce((n, r) => n + r.total, 0);
  let seen = totalReceived();
  await waitFor(
    () => {
      if (totalReceived() !== seen) [seen, quietSince] = [totalReceived(), Date.now()];
      return Date.now() - quietSince > 1_000;
    },
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  const stored = (await jsm.streams.info(stream)).state.last_seq - seq0;

  const result: ScenarioResult = {
    attempted: publisher.attempted,
    confirmed: publisher.confirmed.length,
    failed: publisher.failures.length,
    received: totalReceived(),
    lost: lostInAnyGroup(),
    duplicated: receivedByGroup.reduce((n, r) => n + r.duplicated, 0),
    redelivered: receivedByGroup.reduce((n, r) => n + r.redeliveries, 0),
    storedTwice: stored - received.counts.size,
    firstConfirmedMs,
    firstDeliveryMs,
    longestGapMs: longestGap([...publisher.confirmedAt.values()], t0, stoppedAt),
    longestDeliveryGapMs: longestGap(received.arrivals, t0, stoppedAt),
    failures: publisher.failures,
    events,
  };
  for (const [i, r] of receivedByGroup.entries()) {
    t.equal(
      r.lost(publisher.confirmed).length,
      0,
      `group ${i + 1} of ${groups.length}: no confirmed message lost`,
    );
  }
  t.same(
    untypedFailures(result.failures),
    [],
    `only BK_UNAVAILABLE / BK_TIMEOUT failures (${result.failed} failed)`,
  );
  t.equal(result.storedTwice, 0, 'no message stored twice (retried publishes keep their Nats-Msg-Id)');
  t.comment(
    `attempted ${result.attempted}, confirmed ${result.confirmed}, failed ${result.failed} ` +
      `(${[...new Set(result.failures)].join(', ') || 'none'}), received ${result.received}, lost ${result.lost}, ` +
      `duplicated ${result.duplicated} (redelivered ${result.redelivered}), stored ${stored}, stored twice ${result.storedTwice}` +
      ` — per group: ${receivedByGroup.map((r) => `received ${r.total}, lost ${r.lost(publisher.confirmed).length}, duplicated ${r.duplicated}`).join('; ')}`,
  );
  t.comment(
    `failover: first confirmed publish ${fmtMs(firstConfirmedMs)} and first delivery of a message published after it ${fmtMs(firstDeliveryMs)} after the fault; ` +
      `longest time without a confirmed publish ${fmtMs(result.longestGapMs)}, without a delivery ${fmtMs(result.longestDeliveryGapMs)}; events ${events.join(' ') || 'none'}`,
  );
  if (errors.length) t.comment(`error events: ${errors.length} (first: ${errors[0]})`);
  return result;
}

/** The longest gap from `t0` on between the `times` up to `end`. */
function longestGap(times: number[], t0: number, end: number): number {
  const after = times.filter((at) => at >= t0 && at <= end).sort((a, b) => a - b);
  let gap = 0;
  let last = t0;
  for (const at of after) {
    gap = Math.max(gap, at - last);
    last = at;
  }
  return gap;
}

/** Seconds with two decimals. */
export function fmtMs(ms: number | undefined): string {
  return ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;
}
