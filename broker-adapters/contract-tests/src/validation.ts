/**
 * the naming and group rules (docs/architecture.md#the-contract): every bad name shape rejects with `BK_VALIDATION` before anything
 * reaches the broker, limits are inclusive, and a group re-bound to another pattern is
 * `BK_CONFIG`.
 */
import { Inbox, assertExactly, rejectsWith, scoped } from './harness.js';
import type { SuiteContext, TapTest } from './harness.js';
import { TOPIC_ROOT } from './harness.js';

/** Names every role rejects: shape, characters, reserved tokens. */
const BAD_NAMES: readonly [string, string][] = [
  ['empty', ''],
  ['empty token', 'a..b'],
  ['leading dot', '.a'],
  ['trailing dot', 'a.'],
  ['space', 'a b'],
  ['slash', 'a/b'],
  ['non-ASCII letter', 'ordérs'],
  ['reserved first token _x', '_x.y'],
  ['reserved first token _INBOX', '_INBOX.abc'],
  ['reserved last token dlq', 'a.dlq'],
  ['reserved retry.<n>', 'a.retry.5'],
];

/** Register the name validation and group configuration tests under `parent`. */
export function validationTests(parent: TapTest, ctx: SuiteContext): void {
  scoped(parent, ctx, 'publish rejects bad topics with BK_VALIDATION', async (s) => {
    const broker = await s.broker();
    const bad: [string, unknown][] = [
      ...BAD_NAMES,
      ['wildcard *', `${TOPIC_ROOT}.*`],
      ['wildcard >', `${TOPIC_ROOT}.>`],
      ['wildcard inside a token', `${TOPIC_ROOT}.a*`],
      ['256 bytes', `${TOPIC_ROOT}.${'a'.repeat(251)}`],
      ['not a string', 42],
    ];
    for (const [label, topic] of bad) {
      await rejectsWith(
        s.t,
        () => broker.publish(topic as string, { k: 1 }),
        'BK_VALIDATION',
        `topic ${label}`,
      );
    }
    await broker.publish(`${TOPIC_ROOT}.${'a'.repeat(250)}`, { k: 1 });
    s.t.pass('a topic of exactly 255 bytes is accepted');
  });

  scoped(parent, ctx, 'send and consume reject bad queue names with BK_VALIDATION', async (s) => {
    const broker = await s.broker();
    const bad: [string, unknown][] = [
      ...BAD_NAMES,
      ['wildcard *', 'q.*'],
      ['wildcard >', 'q.>'],
      ['121 bytes', 'q'.repeat(121)],
      ['not a string', null],
    ];
    for (const [label, queue] of bad) {
      await rejectsWith(
        s.t,
        () => broker.send(queue as string, { k: 1 }),
        'BK_VALIDATION',
        `send to ${label}`,
      );
      await rejectsWith(
        s.t,
        () => broker.consume(queue as string, () => {}),
        'BK_VALIDATION',
        `consume ${label}`,
      );
    }
    const longest = s.track(`${s.queue()}-${'q'.repeat(120)}`.slice(0, 120));
    const inbox = new Inbox();
    await broker.consume(longest, inbox.handler);
    await broker.send(longest, { k: 'max' });
    await s.waitFor(() => inbox.has('max'), 'message on a 120-byte queue');
    assertExactly(s.t, inbox, ['max'], 'a queue name of exactly 120 bytes works');
  });

  scoped(parent, ctx, 'subscribe rejects bad patterns and groups with BK_VALIDATION', async (s) => {
    const broker = await s.broker();
    const root = `${TOPIC_ROOT}.x`;
    const badPatterns: [string, unknown][] = [
      ...BAD_NAMES.filter(
        ([label]) => !label.startsWith('reserved last') && !label.startsWith('reserved retry'),
      ),
      ['> not last', `${root}.>.b`],
      ['> alone first then more', `>.${root}`],
      ['wildcard inside a token', `${root}.a*`],
      ['> inside a token', `${root}.b>`],
      ['256 bytes', `${root}.${'a'.repeat(249)}`],
      ['not a string', undefined],
    ];
    for (const [label, pattern] of badPatterns) {
      await rejectsWith(
        s.t,
        () => broker.subscribe(pattern as string, () => {}),
        'BK_VALIDATION',
        `pattern ${label}`,
      );
    }
    const group = s.group();
    for (const pattern of ['*.x', '>', '*', '*.x.>']) {
      await rejectsWith(
        s.t,
        () => broker.subscribe(pattern, () => {}, { group }),
        'BK_VALIDATION',
        `group pattern ${pattern} starts with a wildcard`,
      );
    }
    const badGroups: [string, unknown][] = [
      ['empty', ''],
      ['two tokens', 'a.b'],
      ['wildcard', '*'],
      ['space', 'a b'],
      ['reserved _x', '_g'],
      ['reserved dlq', 'dlq'],
      ['121 bytes', 'g'.repeat(121)],
      ['not a string', 7],
    ];
    for (const [label, g] of badGroups) {
      await rejectsWith(
        s.t,
        () => broker.subscribe(`${root}.*`, () => {}, { group: g as string }),
        'BK_VALIDATION',
        `group ${label}`,
      );
    }
    await rejectsWith(
      s.t,
      () => broker.subscribe(root, 'nope' as never),
      'BK_VALIDATION',
      'handler not a function',
    );
    await rejectsWith(
      s.t,
      () => broker.consume(s.queue(), () => {}, { concurrency: 0 }),
      'BK_VALIDATION',
      'concurrency 0',
    );
    await rejectsWith(
      s.t,
      () => broker.send(s.queue(), { k: 1 }, { delayMs: -1 }),
      'BK_VALIDATION',
      'negative delayMs',
    );
    await rejectsWith(
      s.t,
      () => broker.publish(`${root}.y`, { k: 1 }, { headers: { 'x-brokerkit-attempt': '9' } }),
      'BK_VALIDATION',
      'reserved header prefix',
    );
  });

  scoped(
    parent,
    ctx,
    'a payload over maxPayloadBytes rejects with BK_PAYLOAD_TOO_LARGE, nothing sent',
    async (s) => {
      const broker = await s.broker({ maxPayloadBytes: 1024 });
      const q = s.queue();
      const inbox = new Inbox();
      await broker.consume(q, inbox.handler);
      const big = { k: 'big', pad: 'x'.repeat(2048) };
      await rejectsWith(s.t, () => broker.send(q, big), 'BK_PAYLOAD_TOO_LARGE', 'send');
      await rejectsWith(s.t, () => broker.publish(s.topic('ev'), big), 'BK_PAYLOAD_TOO_LARGE', 'publish');
      await broker.send(q, { k: 'small' });
      await s.waitFor(() => inbox.has('small'), 'the small message');
      assertExactly(s.t, inbox, ['small'], 'the broker stays usable and nothing oversized arrived');
    },
  );

  scoped(parent, ctx, 'a group re-subscribed with another pattern rejects with BK_CONFIG', async (s) => {
    const broker = await s.broker();
    const u = s.topic();
    const group = s.group();
    const inbox = new Inbox();
    const first = await broker.subscribe(`${u}.a.*`, inbox.handler, { group });
    await rejectsWith(
      s.t,
      () => broker.subscribe(`${u}.b.*`, () => {}, { group }),
      'BK_CONFIG',
      'while a member is live',
    );
    const second = await broker.subscribe(`${u}.a.*`, inbox.handler, { group });
    s.t.pass('the same pattern again joins the group');
    await first.close();
    await second.close();
    await rejectsWith(
      s.t,
      () => broker.subscribe(`${u}.>`, () => {}, { group }),
      'BK_CONFIG',
      'while no member is connected',
    );
    // The group still works with its own pattern and was not re-bound by the refused calls.
    await broker.subscribe(`${u}.a.*`, inbox.handler, { group });
    await broker.publish(`${u}.b.x`, { k: 'other-pattern' });
    await broker.publish(`${u}.a.x`, { k: 'own-pattern' });
    await s.waitFor(() => inbox.has('own-pattern'), 'message on the original pattern');
    assertExactly(s.t, inbox, ['own-pattern'], 'only the original binding');
  });
}
