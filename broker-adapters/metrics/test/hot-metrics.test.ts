import t from 'tap';
import { Registry } from 'prom-client';
import { HistogramFamily, observe } from '../src/hot-metrics.js';
import { sample } from './prom-text.js';

t.test('a histogram cell exports cumulative buckets, sum and count, and resets in place', async (t) => {
  const registry = new Registry();
  const family = new HistogramFamily('test_seconds', 'Test.', ['k'], [0.001, 0.01, 1], registry);
  const cell = family.cell({ k: 'a' });
  // On a bound counts into that bucket (le is inclusive); above the last bound: +Inf only.
  for (const value of [0, 0.001, 0.005, 0.5, 2]) observe(cell, value);
  let text = await registry.metrics();
  const bucket = (le: string) => sample(text, 'test_seconds_bucket', { k: 'a', le });
  t.same([bucket('0.001'), bucket('0.01'), bucket('1'), bucket('+Inf')], [2, 3, 4, 5]);
  t.equal(sample(text, 'test_seconds_sum', { k: 'a' }), 0 + 0.001 + 0.005 + 0.5 + 2);
  t.equal(sample(text, 'test_seconds_count', { k: 'a' }), 5);

  registry.resetMetrics();
  observe(cell, 0.02); // the cached cell still records after a reset
  text = await registry.metrics();
  t.same([bucket('0.01'), bucket('1'), bucket('+Inf')], [0, 1, 1]);
  t.equal(sample(text, 'test_seconds_sum', { k: 'a' }), 0.02);
  t.equal(sample(text, 'test_seconds_count', { k: 'a' }), 1);
});
