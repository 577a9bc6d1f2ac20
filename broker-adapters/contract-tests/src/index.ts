/**
 * @brokerkit/contract-tests — the one behaviour suite every adapter runs, and the test support
 * (unique names, polling, tallies, TCP proxy) adapter tests share.
 *
 * @packageDocumentation
 */
export * from './support.js';
