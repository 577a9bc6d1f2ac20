/**
 * JetStream API errors that mean "the cluster is between states" — a meta or stream leader is
 * being elected, a node is down so a replicated stream cannot be placed — rather than "this
 * request is wrong". They are retried like a lost request and, when they outlast the caller's
 * deadline, surface as `BK_UNAVAILABLE` instead of a generic `BK_BROKER`.
 */
import { BrokerUnavailableError } from '@brokerkit/core/adapter';
import { apiCode, mapManagementError, mapPublishError } from './errors.js';

/** JetStream `err_code`s of a cluster that is failing over or short of nodes. */
export const CLUSTER_TRANSIENT_CODES: ReadonlySet<number> = new Set([
  10004, // JSClusterIncompleteErr: incomplete results (a peer did not answer)
  10005, // JSClusterNoPeersErr: no suitable peers for placement (too few nodes up for the replicas)
  10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable (no meta leader)
  10009, // JSClusterNotLeaderErr: JetStream cluster can not handle request
  10023, // JSInsufficientResourcesErr: insufficient resources (nodes down)
  10040, // JSClusterPeerNotMemberErr: peer not a member (yet)
]);

/** True for an error a cluster gives while it elects a leader or misses nodes. */
export function isClusterTransient(error: unknown): boolean {
  const code = apiCode(error);
  return code !== undefined && CLUSTER_TRANSIENT_CODES.has(code);
}

/** {@link mapManagementError}, with cluster transients as `BK_UNAVAILABLE`. */
export function mapClusterManagementError(error: unknown, what: string): Error {
  if (isClusterTransient(error)) {
    return new BrokerUnavailableError(
      `${what}: the NATS cluster is unavailable (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  return mapManagementError(error, what);
}

/** {@link mapPublishError}, with cluster transients as `BK_UNAVAILABLE`. */
export function mapClusterPublishError(error: unknown, subject: string): Error {
  if (isClusterTransient(error)) {
    return new BrokerUnavailableError(
      `publish to ${subject}: the NATS cluster is unavailable (${(error as Error).message})`,
      { cause: error },
    );
  }
  return mapPublishError(error, subject);
}
