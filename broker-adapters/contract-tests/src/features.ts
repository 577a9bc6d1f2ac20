/**
 * What an adapter declares about itself when it runs the contract suite. Flags switch the
 * expectation of a test, never its structure: there are no adapter names inside the tests.
 */
import type { Broker, BrokerOptions } from '@brokerkit/core';

/** Capabilities and timing of an adapter under test. */
export interface Features {
  /**
   * `queueInfo().inFlight` reports numbers (memory, NATS, RabbitMQ with `managementUrl`).
   * When false the suite expects `null` there. Default true.
   */
  inFlightKnown: boolean;
  /**
   * Brokers opened by separate `connect` calls share state: queues and groups created through one
   * connection keep their messages for the next (a real server, or a shared in-process broker).
   * Enables the cross-connection tests. Default false.
   */
  persistent: boolean;
  /**
   * Publishing the same `messageId` twice within the broker's de-duplication window delivers it
   * once (NATS `Nats-Msg-Id`). When false the suite expects both copies. Default false.
   */
  messageIdDedup: boolean;
  /**
   * `backoff.initialMs` of the retry policies the suite uses (doubling, no jitter). Raise it for a
   * broker whose redelivery delays have a coarser minimum granularity. Default 20.
   */
  retryInitialMs: number;
  /**
   * Deadline of every wait for a condition (a message to arrive, a depth to be reached). Only a
   * failing test waits this long. Default 5 000; real brokers may want more.
   */
  timeoutMs: number;
  /**
   * A request nobody responds to rejects with `BK_NO_RESPONDERS` at once (NATS no-responders
   * status, an unroutable RabbitMQ request, memory). When false the suite expects `BK_TIMEOUT`.
   * Default true.
   */
  noRespondersDetected: boolean;
  /**
   * The adapter has request/reply (`Transport.requestReply`). When false the `request and reply`
   * area expects `BK_UNSUPPORTED` from `request` and `respond`. Default true.
   */
  requestReply: boolean;
}

/** The defaults: the in-memory reference adapter's profile. */
export const DEFAULT_FEATURES: Readonly<Features> = Object.freeze({
  inFlightKnown: true,
  persistent: false,
  messageIdDedup: false,
  retryInitialMs: 20,
  timeoutMs: 5_000,
  noRespondersDetected: true,
  requestReply: true,
});

/** What {@link runContractSuite} needs from an adapter's test file. */
export interface ContractOptions {
  /** Adapter name as shown in test titles, e.g. `memory`, `rabbitmq`, `nats`. */
  name: string;
  /** The URL the adapter is tested on (tests that wrap the transport connect to it themselves). */
  url: string;
  /** A fresh connected broker on every call. `options` are merged over the adapter's own. */
  connect(options?: BrokerOptions): Promise<Broker>;
  /** Flags that differ from {@link DEFAULT_FEATURES}. */
  features?: Partial<Features>;
  /**
   * Run only these areas (`semantics`, `retry and dead letters`, `messages`,
   * `names and configuration errors`, `close and drain`, `inspection`, `core seams`,
   * `request and reply`): for developing an adapter.
   */
  only?: readonly string[];
}
