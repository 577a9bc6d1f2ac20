import t from 'tap';
import { parseNdjson } from '../src/ndjson.js';

t.test('with a destination every line is the payload; blank lines are skipped', async (t) => {
  const events = parseNdjson('{"a":1}\n\n  \n"text"\r\n[1,2]\n42\nnull\n', {
    source: 'f.ndjson',
    mode: 'publish',
    destination: 'orders.created',
  });
  t.same(
    events.map((e) => e.data),
    [{ a: 1 }, 'text', [1, 2], 42, null],
  );
  t.ok(events.every((e) => e.destination === 'orders.created' && e.headers === undefined));
});

t.test('without a destination every line is an envelope', async (t) => {
  const text = [
    '{"topic":"orders.created","data":{"id":1}}',
    '{"topic":"orders.paid","data":"x","headers":{"k":"v"},"id":"m-2"}',
  ].join('\n');
  t.same(parseNdjson(text, { source: 's', mode: 'publish' }), [
    { destination: 'orders.created', data: { id: 1 }, headers: undefined, messageId: undefined },
    { destination: 'orders.paid', data: 'x', headers: { k: 'v' }, messageId: 'm-2' },
  ]);
  t.same(parseNdjson('{"queue":"emails","data":1}', { source: 's', mode: 'send' }), [
    { destination: 'emails', data: 1, headers: undefined, messageId: undefined },
  ]);
});

t.test('a malformed line is named with its line number and nothing is returned', async (t) => {
  const text = '{"ok":1}\n{"ok":2}\n{"ok":\n{"ok":4}\n';
  t.throws(() => parseNdjson(text, { source: 'events.ndjson', mode: 'publish', destination: 'a' }), {
    name: 'UsageError',
    message: /^events\.ndjson:3: malformed JSON \(.+\)\n1 bad line\(s\) in events\.ndjson; nothing was sent$/,
  });
});

t.test('every bad line is listed, up to ten, then counted', async (t) => {
  const lines = Array.from({ length: 14 }, (_, i) => (i % 2 === 0 ? '{' : '{"topic":"a","data":1}'));
  try {
    parseNdjson(lines.join('\n'), { source: 'in', mode: 'publish' });
    t.fail('should throw');
  } catch (error) {
    const message = (error as Error).message;
    t.match(message, /^in:1: malformed JSON/);
    t.match(message, /\nin:13: malformed JSON/);
    t.notMatch(message, /in:2:/);
    t.match(message, /7 bad line\(s\) in in; nothing was sent$/);
  }
  try {
    parseNdjson(Array(12).fill('x').join('\n'), { source: 'in', mode: 'publish' });
  } catch (error) {
    t.match((error as Error).message, /in:10: .*\n\.\.\. and 2 more bad line\(s\)\n12 bad line\(s\)/s);
  }
});

t.test('envelope errors', async (t) => {
  const cases: Array<[string, 'publish' | 'send', RegExp]> = [
    ['[1]', 'publish', /in:1: expected an object/],
    ['{"data":1}', 'publish', /in:1: "topic" must be a string/],
    ['{"topic":"a"}', 'publish', /in:1: "data" is missing/],
    ['{"topic":"a.*","data":1}', 'publish', /in:1: .*a\.\*/],
    ['{"topic":"_bk.x","data":1}', 'publish', /in:1: .*reserved/],
    ['{"queue":"q","data":1}', 'publish', /in:1: "queue" is for --send/],
    ['{"topic":"q","data":1}', 'send', /in:1: "topic" is for publishing/],
    ['{"topic":"a","data":1,"extra":2}', 'publish', /in:1: unknown key "extra"/],
    ['{"topic":"a","data":1,"headers":{"n":1}}', 'publish', /in:1: header "n" must be a string/],
    ['{"topic":"a","data":1,"headers":{"x-brokerkit-error":"e"}}', 'publish', /in:1: .*reserved prefix/],
    ['{"topic":"a","data":1,"id":""}', 'publish', /in:1: "id" must be a non-empty string/],
  ];
  for (const [line, mode, message] of cases) {
    t.throws(() => parseNdjson(line, { source: 'in', mode }), { name: 'UsageError', message }, line);
  }
});

t.test('empty input is an error too', async (t) => {
  t.throws(() => parseNdjson('\n \n', { source: 'stdin', mode: 'publish', destination: 'a' }), {
    message: 'stdin: no events (empty input); nothing was sent',
  });
});
