/**
 * A command whose bytes on the wire are laid out in one buffer of exactly their size.
 *
 * ioredis turns a command with any Buffer argument (every message: its body is bytes) into one
 * buffer through a list of parts, measuring each part twice and building a header string per
 * argument; for a 1 KiB send that was a fifth of the client's CPU per work-queue job in a profile
 * (issue #15), more than core's JSON encoding. Here the lengths are measured once, the RESP
 * headers are written as digits into the buffer, and the buffer comes from Node's pool (a send is
 * below its 4 KiB threshold). ioredis' own script commands override `toWritable` the same way; the
 * command stays an ordinary ioredis command otherwise (its promise, reply encoding, the offline
 * queue, and sending again after a reconnect, which calls `toWritable` again and gets the same bytes).
 */
import { Command } from 'ioredis';

const CR = 0x0d;
const LF = 0x0a;
/** Strings up to this length are copied by hand when ASCII. */
const SHORT = 64;
/** Byte lengths of the string arguments of the command being packed (reused: packing is synchronous). */
let lengths = new Int32Array(32);

function digits(n: number): number {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1_000) return 3;
  if (n < 10_000) return 4;
  return String(n).length;
}

/** Write `<marker><n>\r\n` at `at`; returns the offset after it. */
function header(buf: Buffer, at: number, marker: number, n: number): number {
  buf[at++] = marker;
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    const tenth = (n / 10) | 0; // lengths are below 2^31 (Redis' 512 MiB value limit)
    buf[i] = 0x30 + n - tenth * 10;
    n = tenth;
  }
  // Byte stores rather than writeUInt16BE, whose checks cost more than the two bytes (issue #15).
  buf[end] = CR;
  buf[end + 1] = LF;
  return end + 2;
}

/** The RESP array of `name` and `args`, in one buffer. */
export function pack(name: string, args: readonly (string | Buffer)[]): Buffer {
  const count = args.length + 1;
  if (lengths.length < count) lengths = new Int32Array(count * 2);
  const nameLength = Buffer.byteLength(name);
  lengths[0] = nameLength;
  let size = 1 + digits(count) + 2 + 1 + digits(nameLength) + 2 + nameLength + 2;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const length = typeof arg === 'string' ? Buffer.byteLength(arg) : arg.length;
    lengths[i + 1] = length;
    size += 1 + digits(length) + 2 + length + 2;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = header(buf, 0, 0x2a /* * */, count);
  at = header(buf, at, 0x24 /* $ */, nameLength);
  if (nameLength === name.length) for (let j = 0; j < nameLength; j++) buf[at + j] = name.charCodeAt(j);
  else buf.write(name, at, nameLength, 'utf8');
  at += nameLength;
  buf[at++] = CR;
  buf[at++] = LF;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const length = lengths[i + 1]!;
    at = header(buf, at, 0x24, length);
    if (typeof arg !== 'string')
      buf.set(arg, at); // a typed-array copy: no Buffer.copy argument checks
    else if (length === arg.length && length <= SHORT) {
      // ASCII (one byte per code unit) and short — keys, ids, field names: a call into the
      // native writer costs more than the copy.
      for (let j = 0; j < length; j++) buf[at + j] = arg.charCodeAt(j);
    } else buf.write(arg, at, length, 'utf8');
    at += length;
    buf[at++] = CR;
    buf[at++] = LF;
  }
  return buf;
}

const NO_ARGS: never[] = [];

/**
 * An ioredis command sent as one packed buffer; its reply as strings (`'utf8'`, like
 * `redis.call`, the default) or as Buffers (`null`, like `redis.callBuffer`).
 */
export class PackedCommand extends Command {
  #wire: Buffer | undefined;

  constructor(name: string, args: (string | Buffer)[], replyEncoding: 'utf8' | null = 'utf8') {
    // The arguments are set after the base constructor rather than passed to it: it copies them
    // with `Array.prototype.flat` and scans them for Buffers, which cost about 1 µs per send
    // (issue #15) and matter only to its own `toWritable`, overridden here. Commands built here
    // carry strings and Buffers only, never nested arrays or values to stringify.
    super(name, NO_ARGS, replyEncoding === null ? {} : { replyEncoding });
    this.args = args;
  }

  override toWritable(): Buffer {
    return (this.#wire ??= pack(this.name, this.args as (string | Buffer)[]));
  }
}
