// A consumer process for the fault tests to SIGKILL while a handler holds a message: it prints
// `got <message id> <attempt>` for each delivery and never finishes one.
// Usage: node doomed-consumer.mjs <url> <queue|group> <name> [pattern]
import { connect } from '@brokerkit/core';

const [url, kind, name, pattern] = process.argv.slice(2);
const broker = await connect(url);
const hold = (message) => {
  process.stdout.write(`got ${message.id} ${message.attempt}\n`);
  return new Promise(() => {});
};
if (kind === 'queue') await broker.consume(name, hold);
else await broker.subscribe(pattern, hold, { group: name });
process.stdout.write('ready\n');
