// Test helpers of the NATS adapter: a raw client for looking at what the adapter created, and
// cleanup of the streams and consumers a test made on the shared server.
import { connect as natsConnect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { dlqStreamName, eventStreamName, queueStreamName } from '../../src/names.js';

export const NATS_HOST = '127.0.0.1';
export const NATS_PORT = 4222;
export const NATS_URL = `nats://${NATS_HOST}:${NATS_PORT}`;

/** A raw client, closed in teardown. */
export async function rawClient(
  t: { teardown(fn: () => unknown): void },
  port = NATS_PORT,
): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await natsConnect({ servers: `${NATS_HOST}:${port}` });
  t.teardown(() => nc.close());
  return { nc, jsm: await jetstreamManager(nc) };
}

/** Delete streams, ignoring the ones that do not exist. */
export async function deleteStreams(jsm: JetStreamManager, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => jsm.streams.delete(n).catch(() => false)));
}

/** Every stream a test on first token `token`, with queues/groups `names`, may have created. */
export function streamsOf(token: string | undefined, names: string[]): string[] {
  const out = names.flatMap((n) => [queueStreamName(n), dlqStreamName(n)]);
  if (token !== undefined) out.push(eventStreamName(token));
  return out;
}
