/**
 * @brokerkit/contract-tests — the one behaviour suite every adapter runs
 * ({@link runContractSuite}), and the test support (unique names, polling, tallies, TCP proxy)
 * adapter tests share.
 *
 * @packageDocumentation
 */
export * from './support.js';
export { runContractSuite } from './suite.js';
export { DEFAULT_FEATURES, type Features, type ContractOptions } from './features.js';
export { TOPIC_ROOT } from './harness.js';
export * from './cluster.js';
