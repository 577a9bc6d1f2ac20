/**
 * Message ids: UUID v7 (RFC 9562) — 48-bit Unix milliseconds, then a 26-bit counter (the 12 bits
 * of rand_a and the top 14 of rand_b, "fixed bit-length dedicated counter", method 1), then 48
 * random bits — so ids sort by creation time, also within one millisecond.
 *
 * The counter is long so that an id's time never runs ahead of the clock: adapters leave out a
 * separate publish-time header when the id carries the publish time ({@link messageIdTime}), so
 * the id's 48-bit time *is* the message's timestamp. A 12-bit counter overflowed after 4096 ids in
 * one millisecond and borrowed the next one; 2^25 ids per millisecond (the counter is seeded
 * below half its range) are out of reach of one process. Only a clock that goes back keeps ids
 * (and so timestamps) on the last millisecond seen until the clock catches up: ids stay sorted.
 *
 * Written here rather than taken from `uuid` because an id is made for every publish: `uuid`'s
 * v7 asks the CSPRNG for 16 fresh bytes each time, which was a fifth of the in-memory publish
 * path. This one draws from an 8 KiB pool of `randomFillSync` bytes and formats with a lookup
 * table. The tests check the output against `uuid`'s own `validate` and `version`.
 */
import { randomFillSync } from 'node:crypto';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL_SIZE = 8192;
const pool = new Uint8Array(POOL_SIZE);
/** `pool` as hex, made once per refill (native, fast): an id's random part is one `slice` of it. */
let hexPool = '';
let poolOffset = POOL_SIZE;

const COUNTER_MAX = 0x3ffffff; // 26 bits
let lastMs = -1;
/** 26-bit counter; seeded randomly below 2^25 each millisecond so it has room to count. */
let sequence = 0;
/** `tttttttt-tttt-` of `lastMs`: the time part changes once per millisecond, so it is built then. */
let timePrefix = '';
/** The last id {@link newMessageId} made, and its millisecond: see {@link lastMessageIdTime}. */
let lastId = '';
let lastIdMs = 0;

function randomBytes(count: number): number {
  if (poolOffset + count > POOL_SIZE) {
    randomFillSync(pool);
    hexPool = Buffer.from(pool.buffer, pool.byteOffset, pool.byteLength).toString('hex');
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += count;
  return at;
}

function formatTime(ms: number): string {
  const high = Math.floor(ms / 0x100000000); // top 16 bits of the 48-bit timestamp
  const low = ms >>> 0;
  return (
    HEX[(high >>> 8) & 0xff]! +
    HEX[high & 0xff]! +
    HEX[low >>> 24]! +
    HEX[(low >>> 16) & 0xff]! +
    '-' +
    HEX[(low >>> 8) & 0xff]! +
    HEX[low & 0xff]! +
    '-'
  );
}

/**
 * A new message id: UUID v7, so ids sort by creation time; its time is {@link messageIdTime}, and
 * for the id just made also {@link lastMessageIdTime} (no parsing).
 */
export function newMessageId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    const at = randomBytes(4);
    sequence =
      ((pool[at]! << 17) | (pool[at + 1]! << 9) | (pool[at + 2]! << 1) | (pool[at + 3]! >>> 7)) & 0x1ffffff;
    lastMs = ms;
    timePrefix = formatTime(ms);
  } else {
    // Same millisecond (or the clock went back): count on; an overflow (2^25 ids in one
    // millisecond) would borrow the next millisecond.
    ms = lastMs;
    if (++sequence > COUNTER_MAX) {
      sequence = 0;
      ms = ++lastMs;
      timePrefix = formatTime(ms);
    }
  }
  const r = randomBytes(6);
  const s = sequence;
  // Six pieces instead of twenty: the cached time part, the counter, 12 random hex digits.
  lastId =
    timePrefix +
    HEX[0x70 | (s >>> 22)]! +
    HEX[(s >>> 14) & 0xff]! +
    '-' +
    HEX[0x80 | ((s >>> 8) & 0x3f)]! +
    HEX[s & 0xff]! +
    '-' +
    hexPool.slice(r * 2, r * 2 + 12);
  lastIdMs = ms;
  return lastId;
}

/**
 * The millisecond in the id the last {@link newMessageId} call returned: what
 * `messageIdTime(newMessageId())` would parse, without parsing. Read it right after the call.
 */
export function lastMessageIdTime(): number {
  return lastIdMs;
}

/** Hex digit value of a character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/**
 * The 48-bit Unix-millisecond time of a UUID v7 (any producer's, in RFC 9562 text form), or
 * `undefined` when `id` is not a UUID v7. Adapters use it both ways: at publish, a message whose
 * id carries its timestamp needs no separate time header; on receipt, a message without one takes
 * its timestamp from the id.
 */
export function messageIdTime(id: string | undefined): number | undefined {
  if (id === undefined || id.length !== 36) return undefined;
  if (
    id.charCodeAt(8) !== 45 ||
    id.charCodeAt(13) !== 45 ||
    id.charCodeAt(18) !== 45 ||
    id.charCodeAt(23) !== 45
  )
    return undefined;
  if (id.charCodeAt(14) !== 55 /* 7 */) return undefined;
  const variant = hexValue(id.charCodeAt(19));
  if (variant < 8 || variant > 11) return undefined;
  let ms = 0;
  for (let i = 0; i < 13; i++) {
    if (i === 8) continue;
    const v = hexValue(id.charCodeAt(i));
    if (v === -1) return undefined;
    ms = ms * 16 + v;
  }
  return ms;
}

/**
 * True when `id` is a UUID v7 whose time is exactly `timestampMs`: the publish time travels in the
 * id, and adapters leave out their separate time header (a user's `messageId` keeps one, unless
 * it happens to say the same).
 */
export function idCarriesTime(id: string, timestampMs: number): boolean {
  // The common call asks about the id this process just made: no parsing for that one.
  if (id === lastId) return lastIdMs === timestampMs;
  return messageIdTime(id) === timestampMs;
}
