// The two bins against each other on the real brokers whose adapters are built: what the
// publisher reports confirmed is what the subscriber records as handled, counted by message id.
import t from 'tap';
import { join } from 'node:path';
import { connect } from '@brokerkit/core';
import { requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { PUBLISHER_BIN, SUBSCRIBER_BIN, builtBrokers, readRecord, runNode, spawnNode } from './support.js';

const recordedFor = (path: string, topic: string) => readRecord(path, topic);

const { present, missing } = builtBrokers();
// In CI every adapter is built by `npm test`; a missing one is a failure, not a skip.
for (const reason of missing) {
  if (process.env.CI === 'true') t.fail(reason);
  else t.comment(`skipping: ${reason}`);
}

for (const real of present) {
  t.test(`${real.name}: brokerkit-publish → brokerkit-subscribe, published = received`, async (t) => {
    if (!(await requireService(t, real.name, real.host, real.port))) return;
    const run = uniqueName('pubsub');
    const group = uniqueName('grp');
    const queue = uniqueName('q');
    const topic = `bkapps.${run}.created`;
    const dir = t.testdir({ 'events.ndjson': '{"n":1}\n{"n":2}\n{"n":\n' });
    const record = join(dir, 'record.tsv');

    const admin = await connect(real.url);
    t.teardown(async () => {
      await admin.inspector?.deleteQueue(group).catch(() => {});
      await admin.inspector?.deleteQueue(queue).catch(() => {});
      await admin.close();
    });

    const sub = spawnNode(SUBSCRIBER_BIN, [
      '--url',
      real.url,
      '--group',
      `${group}:bkapps.${run}.>`,
      '--queue',
      queue,
      '--concurrency',
      '8',
      '--record',
      record,
      '--port',
      '0',
      '--report-every',
      '0',
    ]);
    t.teardown(() => sub.kill());
    await sub.waitForOutput(/^ready: 2 subscription\(s\)/m, 30_000);
    const [, httpUrl] = (await sub.waitForOutput(/^listening on (http:\/\/\S+)/m)) as unknown as [
      string,
      string,
    ];
    t.equal((await fetch(`${httpUrl}/readyz`)).status, 200, 'subscriber /readyz');

    // A file with a malformed line sends nothing, not even its good lines.
    const file = join(dir, 'events.ndjson');
    const bad = await runNode(PUBLISHER_BIN, [
      '--url',
      real.url,
      '--topic',
      `bkapps.${run}.file`,
      '--file',
      file,
    ]);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /events\.ndjson:3: malformed JSON/);

    const published = await runNode(PUBLISHER_BIN, [
      '--url',
      real.url,
      '--topic',
      topic,
      '--count',
      '300',
      '--size',
      '128',
      '--concurrency',
      '50',
      '--json',
      '--quiet',
    ]);
    t.equal(published.code, 0, published.stderr);
    t.match(JSON.parse(published.stdout), { total: 300, confirmed: 300, failed: 0 });

    const sent = await runNode(PUBLISHER_BIN, [
      '--url',
      real.url,
      '--send',
      '--topic',
      queue,
      '--count',
      '200',
      '--rate',
      '2000',
      '--json',
      '--quiet',
      '--headers',
      'tenant=acme',
    ]);
    t.equal(sent.code, 0, sent.stderr);
    t.match(JSON.parse(sent.stdout), { total: 200, confirmed: 200, failed: 0 });

    await waitFor(
      () => recordedFor(record, topic).ids.size === 300 && recordedFor(record, queue).ids.size === 200,
      {
        timeoutMs: 30_000,
        message: () =>
          `events ${recordedFor(record, topic).ids.size}/300, jobs ${recordedFor(record, queue).ids.size}/200`,
      },
    );
    t.equal(recordedFor(record, topic).lines, 300, 'events: received = published, no duplicates');
    t.equal(recordedFor(record, queue).lines, 200, 'jobs: received = sent, no duplicates');
    t.equal(recordedFor(record, `bkapps.${run}.file`).lines, 0, 'nothing from the rejected file');

    const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
    t.match(
      metrics,
      new RegExp(
        `brokerkit_messages_consumed_total\\{broker="${real.name}",destination="${queue}",group="",outcome="ack"\\} 200\\n`,
      ),
    );

    sub.child.kill('SIGTERM');
    t.same(await sub.exited, { code: 0, signal: null }, 'subscriber exits 0 on SIGTERM');
    t.match(sub.stdout, /stopped cleanly: handled 500, failed attempts 0/);
  });

  t.test(
    `${real.name}: an unreachable broker is exit 1 with BK_UNAVAILABLE, credentials redacted`,
    async (t) => {
      const url = new URL(real.url);
      url.port = '1';
      if (real.name === 'rabbitmq') url.password = 'sekret';
      const r = await runNode(PUBLISHER_BIN, ['--url', url.toString(), '--topic', 'a', '--count', '1']);
      t.equal(r.code, 1);
      t.match(r.stderr, /^brokerkit-publish: cannot connect to .*\[BK_UNAVAILABLE\]\n$/);
      t.notMatch(r.stderr, /sekret/);
      t.equal(r.stdout, '');
    },
  );
}
