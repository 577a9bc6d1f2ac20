/**
 * Message ids: UUID v7 (RFC 9562) — 48-bit Unix milliseconds, then a 12-bit counter, then 62
 * random bits — so ids sort by creation time, also within one millisecond.
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
let poolOffset = POOL_SIZE;

let lastMs = -1;
/** 12-bit counter (rand_a); seeded randomly below 0x800 each millisecond so it has room to count. */
let sequence = 0;

function randomBytes(count: number): number {
  if (poolOffset + count > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += count;
  return at;
}

/** A new message id: UUID v7, so ids sort by creation time. */
export function newMessageId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    const at = randomBytes(2);
    sequence = ((pool[at]! << 8) | pool[at + 1]!) & 0x7ff;
    lastMs = ms;
  } else {
    // Same millisecond (or the clock went back): count on; on overflow borrow the next millisecond.
    ms = lastMs;
    if (++sequence > 0xfff) {
      sequence = 0;
      ms = ++lastMs;
    }
  }
  const r = randomBytes(8);
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
    '-' +
    HEX[0x70 | (sequence >>> 8)]! +
    HEX[sequence & 0xff]! +
    '-' +
    HEX[0x80 | (pool[r]! & 0x3f)]! +
    HEX[pool[r + 1]!]! +
    '-' +
    HEX[pool[r + 2]!]! +
    HEX[pool[r + 3]!]! +
    HEX[pool[r + 4]!]! +
    HEX[pool[r + 5]!]! +
    HEX[pool[r + 6]!]! +
    HEX[pool[r + 7]!]!
  );
}
