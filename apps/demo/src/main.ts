/**
 * `npm start`: the embedded demo. Env: BROKER_URL (default memory://), DEMO_RATE (orders/s).
 */
import { connect, defaultBrokerUrl, redactUrl } from '@brokerkit/core';
import { startDemo } from './demo.js';

const url = defaultBrokerUrl();
const broker = await connect(url);
const demo = await startDemo({ rate: Number(process.env.DEMO_RATE ?? 20) }, broker);

console.log(
  [
    '',
    `brokerkit demo running on ${redactUrl(url)}`,
    '  publisher: sample order events (orders.created, orders.paid) + email jobs',
    '  groups:    billing (orders.>), shipping (orders.created); work queue: emails (10% failures)',
    '  Ctrl-C to stop',
    '',
  ].join('\n'),
);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: draining...`);
  await demo.close();
  await broker.close();
  console.log('stopped cleanly');
  process.exit(0);
};
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
