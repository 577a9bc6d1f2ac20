// SIGTERM drain on the real brokers: a group subscriber is stopped mid-stream, another member
// starts later, and every confirmed message must have been handled at least once by one of them.
import t from 'tap';
import { join } from 'node:path';
import { connect } from '@brokerkit/core';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { SUBSCRIBER_BIN, builtBrokers, readRecord, spawnNode } from './support.js';

const { present, missing } = builtBrokers();
// In CI every adapter is built by `npm test`; a missing one is a failure, not a skip.
for (const reason of missing) {
  if (process.env.CI === 'true') t.fail(reason);
  else t.comment(`skipping: ${reason}`);
}

for (const real of present) {
  t.test(
    `${real.name}: SIGTERM mid-stream drains; a second member handles the rest; none lost`,
    async (t) => {
      if (!(await requireService(t, real.name, real.host, real.port))) return;
      const run = uniqueName('drain');
      const group = uniqueName('grp');
      const topic = `bkapps.${run}.work`;
      const dir = t.testdir({});
      const recordA = join(dir, 'a.tsv');
      const recordB = join(dir, 'b.tsv');

      const broker = await connect(real.url);
      t.teardown(async () => {
        await broker.inspector?.deleteQueue(group).catch(() => {});
        await broker.close();
      });
      const member = (record: string) => {
        const p = spawnNode(SUBSCRIBER_BIN, [
          '--url',
          real.url,
          '--group',
          `${group}:bkapps.${run}.>`,
          '--concurrency',
          '4',
          '--work-ms',
          '5-25',
          '--record',
          record,
          '--port',
          '0',
          '--report-every',
          '0',
        ]);
        t.teardown(() => p.kill());
        return p;
      };

      const a = member(recordA);
      await a.waitForOutput(/^ready: /m, 30_000);

      const confirmed = new Set<string>();
      let failed = 0;
      const publishRange = (from: number, to: number) =>
        Promise.all(
          Array.from({ length: to - from }, (_, k) => {
            const id = `${run}-${from + k}`;
            return broker.publish(topic, { n: from + k }, { messageId: id }).then(
              () => void confirmed.add(id),
              () => void failed++,
            );
          }),
        );

      await publishRange(0, 300);
      // Mid-stream: A has handled some but not all, so handlers are in flight when SIGTERM lands.
      await waitFor(() => readRecord(recordA).lines >= 20, {
        timeoutMs: 30_000,
        message: 'A handled nothing',
      });
      const handledBeforeSignal = readRecord(recordA).lines;
      a.child.kill('SIGTERM');
      const more = publishRange(300, 600); // keeps streaming while A drains and nobody listens
      const exitA = await a.exited;
      t.same(exitA, { code: 0, signal: null }, 'A drained and exited 0');
      t.match(a.stdout, /SIGTERM: draining in-flight handlers/);
      await more;
      t.equal(failed, 0, 'every publish confirmed');
      t.equal(confirmed.size, 600);
      const handledByA = readRecord(recordA).ids;
      t.ok(
        handledByA.size >= handledBeforeSignal && handledByA.size < 600,
        `A handled ${handledByA.size} of 600 before stopping`,
      );

      const b = member(recordB);
      await b.waitForOutput(/^ready: /m, 30_000);
      const lost = () =>
        [...confirmed].filter((id) => !handledByA.has(id) && !readRecord(recordB).ids.has(id));
      await waitFor(() => lost().length === 0, {
        timeoutMs: 60_000,
        intervalMs: 50,
        message: () =>
          `${lost().length} confirmed message(s) never handled, e.g. ${lost().slice(0, 3).join(', ')}`,
      });
      b.child.kill('SIGTERM');
      t.same(await b.exited, { code: 0, signal: null }, 'B exits 0');

      const both = readRecord(recordA).lines + readRecord(recordB).lines;
      t.equal(lost().length, 0, 'none lost');
      t.comment(
        `${real.name}: A handled ${handledByA.size}, B ${readRecord(recordB).ids.size}, duplicates ${both - 600}`,
      );
      const stray = [...readRecord(recordB).ids].filter((id) => !confirmed.has(id));
      t.same(stray, [], 'nothing handled that was not published');
    },
  );
}
