// `BROKER_URL=''` (an unset variable in a compose file or a CI matrix) means "no URL" everywhere:
// `connect()`, `connect(process.env.BROKER_URL)` and `connect('')` all pick the default memory://.
import t from 'tap';
import { connect } from '@brokerkit/core';

t.test('an empty BROKER_URL is the same as an unset one, whichever way it reaches connect', async (t) => {
  const saved = process.env.BROKER_URL;
  t.teardown(() => {
    if (saved === undefined) delete process.env.BROKER_URL;
    else process.env.BROKER_URL = saved;
  });
  process.env.BROKER_URL = '';
  for (const [how, open] of [
    ['connect()', () => connect()],
    ['connect(process.env.BROKER_URL)', () => connect(process.env.BROKER_URL)],
    ["connect('')", () => connect('')],
  ] as const) {
    const broker = await open();
    t.equal(broker.adapter, 'memory', how);
    await broker.close();
  }
  delete process.env.BROKER_URL;
  const unset = await connect(process.env.BROKER_URL);
  t.equal(unset.adapter, 'memory', 'unset: memory://');
  await unset.close();
  await t.rejects(connect('   '), { code: 'BK_VALIDATION' }, 'blank but not empty is still a bad URL');
});
