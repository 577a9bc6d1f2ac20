// `rabbitmqctl close_all_connections` while a publisher streams to a group. It closes every
// client of the shared broker, so this file lives in test/serial/ (run alone).
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireService } from '@brokerkit/contract-tests';
import { RABBIT_HOST, RABBIT_PORT, RABBIT_URL } from '../helpers.js';
import { streamThroughFault } from '../stream.js';

const run = promisify(execFile);

async function rabbitmqctlAvailable(): Promise<boolean> {
  try {
    await run('rabbitmqctl', ['--version']);
    return true;
  } catch {
    return false;
  }
}

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) {
  if (!(await rabbitmqctlAvailable())) {
    if (process.env.CI === 'true') t.fail('rabbitmqctl not found (CI=true: it must be installed)');
    else t.plan(0, 'skip: rabbitmqctl not found');
  } else {
    t.test(
      'close_all_connections mid-stream: 0 confirmed lost, failures typed, subscription resumes',
      async (tt) => {
        const report = await streamThroughFault({
          url: RABBIT_URL,
          total: 5000,
          window: 50,
          atConfirmed: 1500,
          fault: async () => {
            await run('rabbitmqctl', ['close_all_connections', 'brokerkit fault test']);
          },
        });
        tt.teardown(() => report.cleanup());
        tt.comment(JSON.stringify({ ...report, cleanup: undefined }));
        tt.equal(report.lost, 0, 'no confirmed message lost');
        tt.equal(report.confirmed + report.failed, report.attempted, 'every publish settled');
        for (const code of Object.keys(report.failureCodes)) {
          tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
        }
        tt.ok(report.statuses.includes('reconnecting'), 'reported the outage');
        tt.equal(report.statuses.at(-1), 'ready', 'ready again, subscription resumed (sentinel received)');
      },
    );
  }
}
