// The one dispatch loop: concurrency bound, arrival order, and the settle-failure rule.
import t from 'tap';
import { DeliveryLoop } from '../src/delivery-loop.js';
import { deferred } from '../src/support.js';
import type { DeliveryLoopOptions } from '../src/delivery-loop.js';
import type { DeliveryOutcome, RawDelivery } from '../src/types.js';

const ACK: DeliveryOutcome = { kind: 'ack' };

function raw(n: number): RawDelivery {
  return {
    topic: 't',
    body: new Uint8Array([n]),
    headers: {},
    contentType: undefined,
    id: String(n),
    timestamp: undefined,
    attempt: 1,
    redelivered: false,
  };
}

interface Log {
  settled: number[];
  released: number[];
  reported: string[];
}

function loop(
  concurrency: number,
  overrides: Partial<DeliveryLoopOptions<number, string>> = {},
): { loop: DeliveryLoop<number, string>; log: Log } {
  const log: Log = { settled: [], released: [], reported: [] };
  const l = new DeliveryLoop<number, string>({
    concurrency,
    deliver: async () => ACK,
    toDelivery: (n) => raw(n),
    settle: (n) => void log.settled.push(n),
    release: (n) => void log.released.push(n),
    report: (e) => void log.reported.push(e.message),
    ...overrides,
  });
  return { loop: l, log };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

t.test('runs at most `concurrency` at once, in arrival order', async (t) => {
  const gates = new Map<number, ReturnType<typeof deferred<void>>>();
  const started: number[] = [];
  let active = 0;
  let maxActive = 0;
  const { loop: l, log } = loop(2, {
    deliver: async (d) => {
      const n = d.body[0]!;
      started.push(n);
      active++;
      maxActive = Math.max(maxActive, active);
      const g = deferred<void>();
      gates.set(n, g);
      await g.promise;
      active--;
      return ACK;
    },
  });
  for (let i = 0; i < 5; i++) l.push(i, 'c');
  await turn();
  t.same(started, [0, 1], 'two started');
  t.equal(l.running, 2);
  t.equal(l.waiting, 3);
  gates.get(0)!.resolve();
  await turn();
  t.same(started, [0, 1, 2], 'the next starts when a slot frees');
  for (const n of [1, 2]) gates.get(n)!.resolve();
  await turn();
  for (const n of [3, 4]) gates.get(n)!.resolve();
  await l.idle();
  t.equal(maxActive, 2);
  t.same(log.settled, [0, 1, 2, 3, 4]);
  t.same(log.released, []);
});

t.test('a settle that throws releases the delivery, reports it and frees the slot', async (t) => {
  const { loop: l, log } = loop(1, {
    settle: (n) => {
      if (n === 1) throw new Error('ack failed');
      log.settled.push(n);
    },
  });
  l.push(1, 'c');
  l.push(2, 'c');
  await turn();
  await l.idle();
  t.same(log.released, [1]);
  t.same(log.reported, ['ack failed']);
  t.same(log.settled, [2], 'the next delivery ran');
  t.equal(l.size, 0);
});

t.test('an async settle that rejects is released once; deliver rejecting is handled the same', async (t) => {
  const { loop: l, log } = loop(2, {
    deliver: async (d) => {
      if (d.body[0] === 3) throw new Error('deliver broke its contract');
      return ACK;
    },
    settle: async (n) => {
      if (n === 1) throw new Error('dead-letter write refused');
      log.settled.push(n);
    },
  });
  l.push(1, 'c');
  l.push(2, 'c');
  l.push(3, 'c');
  await turn();
  await l.idle();
  t.same(log.released.sort(), [1, 3]);
  t.same(log.reported.sort(), ['dead-letter write refused', 'deliver broke its contract']);
  t.same(log.settled, [2]);
});

t.test('toDelivery returning undefined frees the slot; throwing releases', async (t) => {
  const delivered: number[] = [];
  const { loop: l, log } = loop(1, {
    toDelivery: (n) => {
      if (n === 2) throw new Error('bad headers');
      return n === 1 ? undefined : raw(n);
    },
    deliver: async (d) => {
      delivered.push(d.body[0]!);
      return ACK;
    },
  });
  for (const n of [1, 2, 3]) l.push(n, 'c');
  await turn();
  await l.idle();
  t.same(delivered, [3]);
  t.same(log.released, [2]);
  t.same(log.reported, ['bad headers']);
});

t.test('a throwing release or report cannot leak the slot', async (t) => {
  const reported: string[] = [];
  let reports = 0;
  const l = new DeliveryLoop<number, undefined>({
    concurrency: 1,
    deliver: async () => ACK,
    toDelivery: (n) => raw(n),
    settle: () => {
      throw new Error('settle');
    },
    release: () => {
      throw new Error('release');
    },
    report: (e) => {
      reports++;
      reported.push(e.message);
      if (reports === 1) throw new Error('listener threw');
    },
  });
  l.push(1, undefined);
  l.push(2, undefined);
  await turn();
  await l.idle();
  t.equal(l.size, 0, 'both slots freed');
  t.ok(reported.includes('settle'), 'the settle error was reported');
});

t.test('stop hands back waiting deliveries with their companions; resume starts again', async (t) => {
  const gate = deferred<void>();
  const { loop: l, log } = loop(1, {
    deliver: async () => {
      await gate.promise;
      return ACK;
    },
  });
  l.push(1, 'a');
  l.push(2, 'b');
  l.push(3, 'c');
  t.same(l.stop(), [
    [2, 'b'],
    [3, 'c'],
  ]);
  l.push(4, 'd');
  gate.resolve();
  await l.idle();
  t.same(log.settled, [1], 'nothing starts while stopped');
  l.resume();
  await turn();
  await l.idle();
  t.same(log.settled, [1, 4]);
});

t.test('a long backlog drains in order (compaction keeps order)', async (t) => {
  const { loop: l, log } = loop(3);
  const n = 10_000;
  for (let i = 0; i < n; i++) l.push(i, 'c');
  while (l.size > 0) await l.idle().then(turn);
  t.equal(log.settled.length, n);
  t.ok(
    log.settled.every((v, i) => i === 0 || v > log.settled[i - 1]! - 3),
    'settled in arrival order within the concurrency window',
  );
  t.same(
    [...log.settled].sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
  );
});
