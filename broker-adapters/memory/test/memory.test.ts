// Memory-adapter specifics the shared contract suite does not cover: instance sharing by URL host,
// reset, the FIFO buffer, dead-letter queue deletion rules and backlog drain.
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import { resetMemoryBroker } from '@brokerkit/memory';
import { Tally, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { Fifo } from '../src/fifo.js';

t.test('connections to the same memory://<name> share queues; other names are isolated', async (t) => {
  const name = uniqueName('shared');
  const a = await connect(`memory://${name}`);
  const b = await connect(`memory://${name}`);
  const other = await connect(`memory://${name}-other`);
  t.teardown(async () => {
    await Promise.all([a.close(), b.close(), other.close()]);
    resetMemoryBroker(name);
    resetMemoryBroker(`${name}-other`);
  });
  await a.send('jobs', 1);
  await a.send('jobs', 2);
  t.equal((await b.inspector!.queueInfo('jobs')).depth, 2, 'b sees what a sent');
  await t.rejects(
    other.inspector!.queueInfo('jobs'),
    { code: 'BK_NOT_FOUND' },
    'another name is another broker',
  );
  const tally = new Tally();
  await b.consume<number>('jobs', (m) => tally.add(String(m.data)));
  await waitFor(() => tally.total >= 2, { timeoutMs: 2000 });
  t.same({ lost: tally.lost(['1', '2']), duplicated: tally.duplicated }, { lost: [], duplicated: 0 });
});

t.test('resetMemoryBroker forgets every queue of that name', async (t) => {
  const name = uniqueName('reset');
  const broker = await connect(`memory://${name}`);
  await broker.send('jobs', 'x');
  await broker.close();
  resetMemoryBroker(name);
  const again = await connect(`memory://${name}`);
  t.teardown(() => again.close());
  await t.rejects(again.inspector!.queueInfo('jobs'), { code: 'BK_NOT_FOUND' });
});

t.test('deleting a dead-letter queue whose origin exists only empties it', async (t) => {
  const name = uniqueName('dlq');
  const broker = await connect(`memory://${name}`);
  t.teardown(async () => {
    await broker.close();
    resetMemoryBroker(name);
  });
  const sub = await broker.consume('jobs', () => Promise.reject(new Error('boom')), {
    retry: { attempts: 1 },
  });
  await broker.send('jobs', 'a');
  await waitFor(async () => (await broker.inspector!.queueInfo('jobs.dlq')).depth === 1, { timeoutMs: 2000 });
  await broker.inspector!.deleteQueue('jobs.dlq');
  t.equal((await broker.inspector!.queueInfo('jobs.dlq')).depth, 0, 'emptied, still there');
  await broker.send('jobs', 'b');
  await waitFor(async () => (await broker.inspector!.queueInfo('jobs.dlq')).depth === 1, { timeoutMs: 2000 });
  t.pass('later dead letters still land in it');
  await sub.close();
  await broker.inspector!.deleteQueue('jobs');
  const names = (await broker.inspector!.listQueues()).map((q) => q.name);
  t.same(names, [], 'the queue went with its dead-letter queue');
});

t.test('a consumer drains a 100 000-message backlog in order, once each', async (t) => {
  const name = uniqueName('backlog');
  const broker = await connect(`memory://${name}`);
  t.teardown(async () => {
    await broker.close();
    resetMemoryBroker(name);
  });
  const total = 100_000;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < total; i++) sends.push(broker.send('jobs', i));
  await Promise.all(sends);
  t.equal((await broker.inspector!.queueInfo('jobs')).depth, total);
  let expected = 0;
  let outOfOrder = 0;
  await broker.consume<number>('jobs', (m) => {
    if (m.data !== expected) outOfOrder++;
    expected = m.data + 1;
  });
  await waitFor(() => expected === total, { timeoutMs: 30_000 });
  t.equal(outOfOrder, 0, 'publish order kept with concurrency 1');
  t.equal((await broker.inspector!.queueInfo('jobs')).depth, 0);
});

t.test('a bad memory URL is a validation error', async (t) => {
  const error = await connect('memory://a b').catch((e: unknown) => e);
  t.ok(isBrokerkitError(error, 'BK_VALIDATION'), `got ${String(error)}`);
});

t.test('Fifo keeps order across compaction and reports its length', async (t) => {
  const fifo = new Fifo<number>();
  for (let i = 0; i < 5000; i++) fifo.push(i);
  const out: number[] = [];
  for (let i = 0; i < 3000; i++) out.push(fifo.shift()!);
  for (let i = 5000; i < 6000; i++) fifo.push(i);
  t.equal(fifo.length, 3000);
  t.same(fifo.peek(3), [3000, 3001, 3002]);
  while (fifo.length > 0) out.push(fifo.shift()!);
  t.ok(
    out.every((v, i) => v === i),
    'every item once, in order',
  );
  t.equal(fifo.shift(), undefined);
  fifo.push(1);
  t.equal(fifo.clear(), 1);
});
