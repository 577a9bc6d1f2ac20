import t from 'tap';
import { demoSettings, formatBanner } from '../src/settings.js';

t.test('defaults and overrides', async (t) => {
  t.same(demoSettings({}), { rate: 20, failureRate: 0.1, poisonRate: 0.02 });
  t.same(demoSettings({ DEMO_RATE: '5', DEMO_FAILURE_RATE: '0', DEMO_POISON_RATE: '1' }), {
    rate: 5,
    failureRate: 0,
    poisonRate: 1,
  });
  t.throws(
    () => demoSettings({ DEMO_FAILURE_RATE: '1.5' }),
    /DEMO_FAILURE_RATE must be a number from 0 to 1, got "1.5"/,
  );
  t.throws(() => demoSettings({ DEMO_RATE: '0' }), /DEMO_RATE must be a number from 0.1/);
});

t.test('the banner lists every URL to open', async (t) => {
  const text = formatBanner({
    brokerUrl: 'memory://',
    host: '0.0.0.0',
    port: 3000,
    settings: demoSettings({}),
  });
  for (const path of ['/', '/api/queues', '/metrics', '/docs', '/readyz']) {
    t.match(text, `http://127.0.0.1:3000${path}\n`, path);
  }
  t.match(text, /10 % failures \(retried\), 2 % poison \(dead-lettered to emails\.dlq\)/);
  t.match(
    formatBanner({ brokerUrl: 'x', host: '::1', port: 1, settings: demoSettings({}) }),
    'http://[::1]:1/',
  );
});
