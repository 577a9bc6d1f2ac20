/**
 * @brokerkit/redis — the Redis Streams adapter, loaded by `connect('redis://…')`.
 *
 * @packageDocumentation
 */
export {};
