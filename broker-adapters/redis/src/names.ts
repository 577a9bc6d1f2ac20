/**
 * Every Redis key the adapter uses, derived by one pure function each, so the whole layout reads
 * in one screen (README: "Keys"). Logical names (topics, queues, groups) are validated by core
 * before they get here: tokens of `[A-Za-z0-9_-]` joined by `.`, safe inside a key.
 */
import { hostname } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';

/** Prefix of every key brokerkit writes. */
export const KEY_PREFIX = 'bk:';

/** Hash: every queue and group name → its role (`queue`, or `group <pattern>`). */
export const NAMES_KEY = `${KEY_PREFIX}names`;

/** Prefix of the stream of a queue, a group or a dead-letter queue (the publish script appends the group). */
export const STREAM_PREFIX = `${KEY_PREFIX}q:`;

/** Stream of every event published under first token `token` (ephemeral subscribers read it). */
export function eventStreamKey(token: string): string {
  return `${KEY_PREFIX}ev:${token}`;
}

/**
 * String with a TTL, refreshed by every ephemeral subscriber of first token `token`: while it
 * exists the publish script also writes events to {@link eventStreamKey}.
 */
export function listenKey(token: string): string {
  return `${KEY_PREFIX}listen:${token}`;
}

/** Hash: the groups of first token `token` → their pattern; the publish script routes by it. */
export function routesKey(token: string): string {
  return `${KEY_PREFIX}routes:${token}`;
}

/** Stream of a work queue, of a group (filled at publish time), or of a dead-letter queue (`<origin>.dlq`). */
export function streamKey(name: string): string {
  return STREAM_PREFIX + name;
}

/** Sorted set: parked entries (retries, delayed sends) of a queue or group → the time they are due (ms). */
export function dueKey(origin: string): string {
  return `${KEY_PREFIX}due:${origin}`;
}

/** Stream holding the parked entries themselves until they are due. */
export function parkKey(origin: string): string {
  return `${KEY_PREFIX}park:${origin}`;
}

/** Sorted set: live members of a queue or group → when their presence expires (ms). */
export function membersKey(origin: string): string {
  return `${KEY_PREFIX}members:${origin}`;
}

/** String with a TTL: a message id seen on a destination, when de-duplication is on. */
export function dedupKey(destination: string, messageId: string): string {
  return `${KEY_PREFIX}seen:${destination}:${messageId}`;
}

/** What a registered name is for. */
export type Role = { readonly kind: 'queue' } | { readonly kind: 'group'; readonly pattern: string };

/** The value stored in {@link NAMES_KEY} for a role. */
export function encodeRole(role: Role): string {
  return role.kind === 'queue' ? 'queue' : `group ${role.pattern}`;
}

/** The role stored in {@link NAMES_KEY}; `undefined` for a value brokerkit did not write. */
export function decodeRole(value: string | null | undefined): Role | undefined {
  if (value === 'queue') return { kind: 'queue' };
  if (value?.startsWith('group ') && value.length > 6) return { kind: 'group', pattern: value.slice(6) };
  return undefined;
}

/** A consumer name unique to one member, readable in `XINFO CONSUMERS`: `<host>-<pid>-<random>`. */
export function consumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

// -- request / reply (src/rpc.ts) -------------------------------------------------------------

/** Prefix of every request/reply key: routes, members (`m:<route>`), request lists (`q:<route>`), replies. */
export const RPC_PREFIX = `${KEY_PREFIX}rpc:`;

/** Hash: the responder routes of first token `token` → their pattern (the request script matches them). */
export function rpcRoutesKey(token: string): string {
  return `${RPC_PREFIX}routes:${token}`;
}

/** Hash: responder routes whose pattern starts with a wildcard (`*.x`, `>`), checked for every request. */
export const RPC_WILD_ROUTES_KEY = `${RPC_PREFIX}routes-wild`;

/** Sorted set: the live members of a responder route → when their presence expires (ms). */
export function rpcMembersKey(route: string): string {
  return `${RPC_PREFIX}m:${route}`;
}

/** List: the requests waiting for a responder route's members. */
export function rpcQueueKey(route: string): string {
  return `${RPC_PREFIX}q:${route}`;
}

/** List: the replies to one broker's requests (one per broker, read by one blocking connection). */
export function rpcReplyKey(owner: string): string {
  return `${RPC_PREFIX}reply:${owner}`;
}

/**
 * The route of a responder: its own (`u:<random>`) without a group; with one, shared by the
 * group's members on the same pattern (`g:<group>:<hash of the pattern>`), as NATS queue groups.
 */
export function rpcRouteId(pattern: string, group: string | undefined): string {
  if (group === undefined) return `u:${randomBytes(8).toString('hex')}`;
  return `g:${group}:${createHash('sha1').update(pattern).digest('hex').slice(0, 16)}`;
}
