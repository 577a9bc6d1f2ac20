/**
 * Names and patterns: validation and matching. Topics and queues are `.`-separated tokens of
 * `[A-Za-z0-9_-]`; patterns add `*` (one token) and a trailing `>` (one or more tokens).
 */
import { ValidationError } from './errors.js';

/** Longest topic or pattern, in bytes. */
export const MAX_TOPIC_BYTES = 255;
/** Longest queue or group name, in bytes (room for derived names like `<q>.retry.30000`). */
export const MAX_QUEUE_BYTES = 120;

const TOKEN = /^[A-Za-z0-9_-]+$/;
const RESERVED_RETRY = /^retry$/;
const DIGITS = /^[0-9]+$/;

type NameRole = 'topic' | 'queue' | 'pattern' | 'group';

function fail(role: NameRole, name: unknown, why: string): never {
  throw new ValidationError(`${role} ${JSON.stringify(name)} ${why}`);
}

function checkString(role: NameRole, name: unknown, maxBytes: number): asserts name is string {
  if (typeof name !== 'string') fail(role, name, 'must be a string');
  if (name.length === 0) fail(role, name, 'must not be empty');
  if (Buffer.byteLength(name) > maxBytes) fail(role, name, `is longer than ${maxBytes} bytes`);
}

function checkReserved(role: NameRole, name: string, tokens: readonly string[]): void {
  if (tokens[0]!.startsWith('_')) fail(role, name, 'starts with "_", which is reserved for broker internals');
  const last = tokens[tokens.length - 1]!;
  if (last === 'dlq') fail(role, name, 'ends with ".dlq", which is reserved for dead-letter queues');
  if (tokens.length >= 2 && RESERVED_RETRY.test(tokens[tokens.length - 2]!) && DIGITS.test(last)) {
    fail(role, name, 'ends with ".retry.<n>", which is reserved for retry queues');
  }
}

function checkTokens(role: NameRole, name: string, wildcards: boolean): string[] {
  const tokens = name.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) fail(role, name, 'has an empty token');
    if (TOKEN.test(token)) continue;
    if (wildcards && token === '*') continue;
    if (wildcards && token === '>') {
      if (i !== tokens.length - 1) fail(role, name, 'has ">" before its last token');
      continue;
    }
    if (!wildcards && (token.includes('*') || token.includes('>'))) {
      fail(role, name, `must not contain wildcards (token "${token}")`);
    }
    fail(role, name, `has an invalid token "${token}" (allowed: A-Z a-z 0-9 _ -)`);
  }
  return tokens;
}

/**
 * Topics already found valid. Services publish to a handful of topics over and over, so this
 * takes validation off the publish path; it starts over when full, so many distinct topics cost
 * memory only up to the limit.
 */
const validTopics = new Set<string>();
/** Entries of each valid-name cache before it starts over. */
const VALID_TOPICS_LIMIT = 4096;

/** Throws {@link ValidationError} unless `topic` is a valid topic to publish to. */
export function validateTopic(topic: unknown): asserts topic is string {
  if (typeof topic === 'string' && validTopics.has(topic)) return;
  checkString('topic', topic, MAX_TOPIC_BYTES);
  checkReserved('topic', topic, checkTokens('topic', topic, false));
  if (validTopics.size >= VALID_TOPICS_LIMIT) validTopics.clear();
  validTopics.add(topic);
}

/** Queue names already found valid (see {@link validTopics}). */
const validQueues = new Set<string>();

/** Throws {@link ValidationError} unless `queue` is a valid work-queue name. */
export function validateQueueName(queue: unknown): asserts queue is string {
  if (typeof queue === 'string' && validQueues.has(queue)) return;
  checkString('queue', queue, MAX_QUEUE_BYTES);
  checkReserved('queue', queue, checkTokens('queue', queue, false));
  if (validQueues.size >= VALID_TOPICS_LIMIT) validQueues.clear();
  validQueues.add(queue);
}

/** Throws {@link ValidationError} unless `group` is a valid group name (a single token). */
export function validateGroupName(group: unknown): asserts group is string {
  checkString('group', group, MAX_QUEUE_BYTES);
  if (!TOKEN.test(group)) fail('group', group, 'must be a single token of A-Z a-z 0-9 _ -');
  checkReserved('group', group, [group]);
}

/**
 * Throws {@link ValidationError} unless `pattern` is a valid subscription pattern. A group's
 * pattern must start with a literal token (NATS keeps events in one stream per first token).
 */
export function validatePattern(
  pattern: unknown,
  options: { group?: boolean } = {},
): asserts pattern is string {
  checkString('pattern', pattern, MAX_TOPIC_BYTES);
  const tokens = checkTokens('pattern', pattern, true);
  if (tokens[0]!.startsWith('_'))
    fail('pattern', pattern, 'starts with "_", which is reserved for broker internals');
  if (options.group && (tokens[0] === '*' || tokens[0] === '>')) {
    fail('pattern', pattern, 'of a group must start with a literal token (e.g. "orders.*")');
  }
}

/** True when a pattern contains a wildcard. */
export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('>');
}

/** The first token of a topic or pattern. */
export function firstToken(name: string): string {
  const dot = name.indexOf('.');
  return dot === -1 ? name : name.slice(0, dot);
}

/** A compiled pattern: a predicate over topics. */
export type TopicMatcher = (topic: string) => boolean;

/**
 * Compile a (validated) pattern into a matcher. Literal patterns compare strings; others walk
 * tokens without allocating a regular expression per call.
 */
export function compilePattern(pattern: string): TopicMatcher {
  if (!hasWildcard(pattern)) return (topic) => topic === pattern;
  const tokens = pattern.split('.');
  const tail = tokens[tokens.length - 1] === '>';
  const fixed = tail ? tokens.length - 1 : tokens.length;
  return (topic) => {
    let start = 0;
    for (let i = 0; i < fixed; i++) {
      if (start > topic.length) return false;
      let end = topic.indexOf('.', start);
      if (end === -1) end = topic.length;
      const want = tokens[i]!;
      if (want !== '*') {
        if (end - start !== want.length || !topic.startsWith(want, start)) return false;
      } else if (end === start) {
        return false;
      }
      start = end + 1;
    }
    // `>` needs at least one more token; otherwise the topic must be fully consumed.
    return tail ? start < topic.length : start === topic.length + 1;
  };
}

/** True when `topic` matches `pattern`. Compile once with {@link compilePattern} on hot paths. */
export function matchPattern(pattern: string, topic: string): boolean {
  return compilePattern(pattern)(topic);
}

/** Suffix of a dead-letter queue's logical name: `orders` → `orders.dlq`. */
export const DEAD_LETTER_SUFFIX = '.dlq';

/** The logical name of the dead-letter queue of a queue or group. */
export function deadLetterQueueName(origin: string): string {
  return origin + DEAD_LETTER_SUFFIX;
}

/** `orders.dlq` → `orders`; `undefined` for a name that is not a dead-letter queue's. */
export function deadLetterOrigin(name: string): string | undefined {
  return name.endsWith(DEAD_LETTER_SUFFIX) && name.length > DEAD_LETTER_SUFFIX.length
    ? name.slice(0, -DEAD_LETTER_SUFFIX.length)
    : undefined;
}
