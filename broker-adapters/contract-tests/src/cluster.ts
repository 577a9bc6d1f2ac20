/**
 * Loopback 3-node RabbitMQ and NATS JetStream clusters for tests (docs/architecture.md#clusters),
 * run by `scripts/cluster.sh`: start them once per machine (idempotent, safe from parallel test
 * processes), kill, restart, pause and resume nodes, and find which node leads a quorum queue or
 * a stream. Nodes are numbered 1..3 everywhere, as in the script. `killNode` and `pauseNode` hold
 * the node down: other tests' `ensureCluster` leaves it alone until `startNode` / `resumeNode`.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SkippableTest } from './support.js';

/** The brokers a test cluster can run. */
export type ClusterKind = 'rabbitmq' | 'nats';

/** One node of a test cluster. */
export interface ClusterNode {
  /** RabbitMQ node name (`bk1@localhost`) or NATS server name (`bk1`). */
  name: string;
  /** Client URL of this node alone (RabbitMQ with `guest:guest`). */
  url: string;
  /** RabbitMQ: management API base URL with `guest:guest`. */
  managementUrl?: string;
  /** RabbitMQ: the rabbitmq_prometheus `/metrics` URL. */
  prometheusUrl?: string;
  /** NATS: monitoring base URL (`/jsz`, `/varz`, `/healthz`). */
  monitorUrl?: string;
  /** OS pid of the server process when it runs (`null` when the node is down). */
  pid: number | null;
}

/** A running test cluster, as {@link ensureCluster} returns it. */
export interface ClusterInfo {
  kind: ClusterKind;
  /** One client URL per node, node 1 first. */
  urls: string[];
  /** The URLs comma-joined: what `connect()` takes for a cluster. */
  url: string;
  /** RabbitMQ: each node's management API (with `guest:guest`), node 1 first. */
  managementUrls?: string[];
  /** NATS: each node's monitoring endpoint, node 1 first. */
  monitorUrls?: string[];
  /** Number of nodes (3). */
  nodes: number;
  /** The nodes, node 1 first. */
  members: ClusterNode[];
}

/** The repository's `scripts/cluster.sh` (this module sits in `broker-adapters/contract-tests/{src,dist}`). */
export const CLUSTER_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/cluster.sh');

/** A cluster start (first start of RabbitMQ takes ~20–45 s on 2 busy cores). */
const START_TIMEOUT_MS = 240_000;

/** Run `scripts/cluster.sh ...args`; resolve its stdout, reject with its stderr's tail. */
export function clusterScript(args: string[], timeoutMs = START_TIMEOUT_MS): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [CLUSTER_SCRIPT, ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolvePromise(stdout);
        const tail = stderr.trim().split('\n').slice(-40).join('\n');
        reject(
          new Error(`scripts/cluster.sh ${args.join(' ')} failed (${error.message.split('\n')[0]})\n${tail}`),
        );
      },
    );
  });
}

/** The cluster's ports and node names, from `cluster.sh info` (no start). */
export async function clusterInfo(kind: ClusterKind): Promise<ClusterInfo> {
  const parsed = JSON.parse(await clusterScript(['info', kind], 30_000)) as { nodes: ClusterNode[] };
  const members = parsed.nodes;
  const urls = members.map((n) => n.url);
  return {
    kind,
    urls,
    url: urls.join(','),
    ...(kind === 'rabbitmq'
      ? { managementUrls: members.map((n) => n.managementUrl ?? '') }
      : { monitorUrls: members.map((n) => n.monitorUrl ?? '') }),
    nodes: members.length,
    members,
  };
}

/**
 * Start the `kind` cluster unless it is already up and healthy (then this costs well under a
 * second), restarting any node that is down, and return its URLs.
 */
export async function ensureCluster(kind: ClusterKind): Promise<ClusterInfo> {
  await clusterScript(['start', kind]);
  return clusterInfo(kind);
}

/** The server binary a cluster needs, for skip decisions. */
function serverBinary(kind: ClusterKind): string {
  if (kind === 'rabbitmq') return `${process.env.BK_RABBITMQ_BIN ?? '/usr/lib/rabbitmq/bin'}/rabbitmq-server`;
  return process.env.BK_NATS_SERVER ?? '/usr/sbin/nats-server';
}

/**
 * {@link ensureCluster} for a test file. Outside CI, a missing server binary or a cluster that
 * does not start skips the test with a printed reason (returns `undefined`); with `CI=true`
 * nothing may skip, so the test fails instead.
 */
export async function requireCluster(t: SkippableTest, kind: ClusterKind): Promise<ClusterInfo | undefined> {
  let reason: string;
  try {
    accessSync(serverBinary(kind), constants.X_OK);
    try {
      return await ensureCluster(kind);
    } catch (err) {
      reason = `the ${kind} test cluster did not start: ${(err as Error).message}`;
    }
  } catch {
    reason = `${serverBinary(kind)} is not installed, so there is no ${kind} test cluster`;
  }
  if (process.env.CI === 'true') {
    t.fail(`${reason} (CI=true: clusters must start, see .ci/run)`);
    return undefined;
  }
  t.comment(`skipping: ${reason}`);
  t.plan?.(0, `skip: ${reason.split('\n')[0]}`);
  return undefined;
}

/** `kill -9` node `n` (1-based); resolves once the process is gone. */
export async function killNode(kind: ClusterKind, n: number): Promise<void> {
  await clusterScript(['kill', kind, String(n)], 60_000);
}

/** Restart node `n` with its data; resolves once it is up and back in the cluster. */
export async function startNode(kind: ClusterKind, n: number): Promise<void> {
  await clusterScript(['start-node', kind, String(n)]);
}

/** SIGSTOP node `n`: it keeps its sockets open but stops answering. */
export async function pauseNode(kind: ClusterKind, n: number): Promise<void> {
  await clusterScript(['pause', kind, String(n)], 30_000);
}

/** SIGCONT node `n` after {@link pauseNode}. */
export async function resumeNode(kind: ClusterKind, n: number): Promise<void> {
  await clusterScript(['resume', kind, String(n)], 30_000);
}

/**
 * `rabbitmqctl -n bk<n>@localhost ...args` as the user and Erlang cookie the test nodes use, e.g.
 * `rabbitmqctl(1, ['set_vm_memory_high_watermark', '0.0000001'])` to raise a memory alarm or
 * `rabbitmqctl(2, ['cluster_status', '--formatter', 'json'])`. Resolves stdout.
 */
export function rabbitmqctl(n: number, args: string[], timeoutMs = 60_000): Promise<string> {
  return clusterScript(['ctl', String(n), ...args], timeoutMs);
}

/** GET a JSON document; credentials in the URL become a Basic authorization header. */
async function fetchJson(href: string): Promise<unknown> {
  const url = new URL(href);
  const headers: Record<string, string> = {};
  if (url.username) {
    headers.authorization = `Basic ${Buffer.from(`${url.username}:${url.password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(3000) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** `pick(document)` from the first node whose `base` endpoint answers `path` with a match. */
async function firstAnswer<T>(
  info: ClusterInfo,
  base: (node: ClusterNode) => string | undefined,
  path: string,
  pick: (document: unknown) => T | undefined,
): Promise<T | undefined> {
  const errors: string[] = [];
  for (const node of info.members) {
    const prefix = base(node);
    if (!prefix) continue;
    try {
      const found = pick(await fetchJson(`${prefix}/${path}`));
      if (found !== undefined) return found;
    } catch (err) {
      errors.push(`${node.name}: ${(err as Error).message}`);
    }
  }
  if (errors.length === info.members.length)
    throw new Error(`GET ${path}: no node answered (${errors.join('; ')})`);
  return undefined;
}

/** The 1-based number of the node called `name` (`bk2@localhost` or `bk2`), or `undefined`. */
export function nodeNumber(info: ClusterInfo, name: string | undefined): number | undefined {
  const i = info.members.findIndex((m) => m.name === name);
  return i < 0 ? undefined : i + 1;
}

/**
 * The node (1-based) leading the quorum queue `queue` (`leader` in the management API's queue
 * document), or `undefined` when no node reports one. Rejects when no management API answers.
 */
export function quorumQueueLeader(
  info: ClusterInfo,
  queue: string,
  vhost = '/',
): Promise<number | undefined> {
  const path = `api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}?disable_stats=true`;
  return firstAnswer(
    info,
    (n) => n.managementUrl,
    path,
    (q) => nodeNumber(info, (q as { leader?: string }).leader),
  );
}

/**
 * The node (1-based) leading the JetStream stream `stream` (`cluster.leader` in a replica's
 * `/jsz?accounts=true&streams=true`), or `undefined` when no node reports one.
 */
export function streamLeader(info: ClusterInfo, stream: string): Promise<number | undefined> {
  type Jsz = { account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] };
  return firstAnswer(
    info,
    (n) => n.monitorUrl,
    'jsz?accounts=true&streams=true',
    (jsz) => {
      for (const account of (jsz as Jsz).account_details ?? []) {
        const found = account.stream_detail?.find((s) => s.name === stream);
        if (found) return nodeNumber(info, found.cluster?.leader);
      }
      return undefined;
    },
  );
}

/** The node (1-based) that is the JetStream meta leader, from the first node that knows one. */
export function metaLeader(info: ClusterInfo): Promise<number | undefined> {
  return firstAnswer(
    info,
    (n) => n.monitorUrl,
    'jsz',
    (jsz) => nodeNumber(info, (jsz as { meta_cluster?: { leader?: string } }).meta_cluster?.leader),
  );
}
