// The quorum retry-bucket mover keeps consuming its buckets while the connection lives: a broker
// cancel (a quorum leader change) or a failed consume is retried with backoff, and only a bucket
// found deleted (404) is forgotten, here and in the declaration cache. On fakes of amqplib's
// channel and of the supervisor: what a cluster does here (cancel at a leader change, consume
// refused while no leader is elected) cannot be produced on demand, the reactions can.
import t from 'tap';
import type { TransportHooks } from '@brokerkit/core';
import { waitFor } from '@brokerkit/contract-tests';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { BucketMover } from '../src/bucket-mover.js';
import type { ConnectionSupervisor } from '../src/connection.js';
import type { Publisher } from '../src/publisher.js';

type OnMessage = (message: ConsumeMessage | null) => void;

/** A channel that records consumes and fails the next ones on request. */
class FakeChannel {
  readonly consumes: Array<{ queue: string; onMessage: OnMessage }> = [];
  /** Errors the next consumes reject with, in order. */
  readonly failNext: Error[] = [];
  closed = false;
  readonly #listeners = new Map<string, Array<() => void>>();

  on(event: string, fn: () => void): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), fn]);
    return this;
  }
  async prefetch(): Promise<void> {}
  async consume(queue: string, onMessage: OnMessage): Promise<{ consumerTag: string }> {
    const failure = this.failNext.shift();
    if (failure) throw failure;
    this.consumes.push({ queue, onMessage });
    return { consumerTag: `tag-${this.consumes.length}` };
  }
  async cancel(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
    for (const fn of this.#listeners.get('close') ?? []) fn();
  }
  ack(): void {}
  /** The broker cancels the latest consumer of `queue`. */
  cancelLatest(queue: string): void {
    const latest = this.consumes.filter((c) => c.queue === queue).at(-1);
    latest?.onMessage(null);
  }
}

function setup(existing: Set<string>) {
  const channel = new FakeChannel();
  const model = { createChannel: async () => channel } as unknown as ChannelModel;
  const checked: string[] = [];
  const supervisor = {
    current: model,
    model,
    withChannel: async <T>(_timeoutMs: number, work: (c: Channel) => Promise<T>): Promise<T> =>
      work({
        checkQueue: async (name: string) => {
          checked.push(name);
          if (!existing.has(name))
            throw Object.assign(new Error(`NOT_FOUND - no queue '${name}'`), { code: 404 });
          return { queue: name, messageCount: 0, consumerCount: 0 };
        },
      } as unknown as Channel),
  } as unknown as ConnectionSupervisor;
  const errors: Error[] = [];
  const hooks: TransportHooks = { status: () => {}, error: (e) => errors.push(e) };
  const mover = new BucketMover(supervisor, {} as Publisher, 1_000, hooks);
  const gone: string[] = [];
  mover.onGone = (bucket) => gone.push(bucket);
  return { channel, model, mover, errors, gone, checked };
}

t.test('a broker cancel (leader change) is followed by a new consume of the same bucket', async (t) => {
  const bucket = 'g.retry.100';
  const { channel, mover, errors, gone, checked } = setup(new Set([bucket]));
  t.teardown(() => mover.close());
  mover.add(bucket, 'g', 100);
  await waitFor(() => channel.consumes.length === 1, { timeoutMs: 2_000, message: 'first consume' });
  channel.cancelLatest(bucket);
  await waitFor(() => channel.consumes.length === 2, { timeoutMs: 5_000, message: 'consumed again' });
  t.same(checked, [bucket], 'looked whether the bucket still exists first');
  t.same(gone, [], 'an existing bucket is not forgotten');
  t.equal(errors.length, 0, 'a cancel by itself is no error');
  // Again: each cancel is survived, not only the first.
  channel.cancelLatest(bucket);
  await waitFor(() => channel.consumes.length === 3, { timeoutMs: 5_000, message: 'consumed a third time' });
});

t.test('a cancelled bucket that was deleted (404) is forgotten, here and by the topology', async (t) => {
  const existing = new Set(['q.retry.200']);
  const { channel, mover, gone } = setup(existing);
  t.teardown(() => mover.close());
  mover.add('q.retry.200', 'q', 200);
  await waitFor(() => channel.consumes.length === 1, { timeoutMs: 2_000, message: 'first consume' });
  existing.delete('q.retry.200');
  channel.cancelLatest('q.retry.200');
  await waitFor(() => gone.length === 1, { timeoutMs: 5_000, message: 'forgotten' });
  t.same(gone, ['q.retry.200'], 'onGone named the bucket');
  t.equal(channel.consumes.length, 1, 'no consume of a deleted queue (it would close the shared channel)');
  t.notOk(channel.closed, 'the shared channel stays open');
  // Declared again by the next retry: the mover takes it again.
  existing.add('q.retry.200');
  mover.add('q.retry.200', 'q', 200);
  await waitFor(() => channel.consumes.length === 2, {
    timeoutMs: 2_000,
    message: 'consumed after re-adding',
  });
});

t.test('a failed consume (no leader yet) is reported once per attempt and retried', async (t) => {
  const { channel, mover, errors } = setup(new Set(['w.retry.100']));
  t.teardown(() => mover.close());
  const noLeader = () => Object.assign(new Error('queue not available'), { code: 541 });
  channel.failNext.push(noLeader(), noLeader());
  mover.add('w.retry.100', 'w', 100);
  await waitFor(() => channel.consumes.length === 1, { timeoutMs: 5_000, message: 'consumed in the end' });
  t.equal(errors.length, 2, 'each failed attempt reported once');
  t.ok(
    errors.every((e) => /consuming retry queue "w\.retry\.100"/.test(e.message)),
    'the reports name the bucket',
  );
});

t.test('close stops the retries', async (t) => {
  const { channel, mover } = setup(new Set(['c.retry.100']));
  channel.failNext.push(Object.assign(new Error('queue not available'), { code: 541 }));
  mover.add('c.retry.100', 'c', 100);
  await waitFor(() => channel.failNext.length === 0, { timeoutMs: 2_000, message: 'first consume tried' });
  await mover.close();
  // The retry timer was cleared: the process can exit with nothing pending (tap would time out).
  t.equal(channel.consumes.length, 0, 'no consume after close');
});
