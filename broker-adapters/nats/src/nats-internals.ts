/**
 * Everything the adapter relies on beyond nats.js' typed public API, in one place: private
 * fields of its message objects and of its connection's protocol handler (core publish), one
 * undeclared method it calls on headers, an entry point it marks internal, and the JetStream wire formats it reads and writes itself (ack reply subjects,
 * ack bodies). Each item says why it is used; every one of them was a measured gain on the hot
 * path, or is the only way to reach a class nats.js does not export publicly.
 *
 * **Tested with nats.js {@link TESTED_NATS_JS}** (`@nats-io/transport-node`, `@nats-io/nats-core`
 * and `@nats-io/jetstream` 3.4.0; `package.json` pins `~3.4.0`). `test/nats-internals.test.ts`
 * checks every item against the installed client and a real nats-server and fails naming the
 * field and the installed version when one no longer holds: run it before widening the range.
 *
 * Nothing else in the adapter may read a `_`-prefixed nats.js field or parse a `$JS.ACK` subject.
 */
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';

/** The nats.js minor version the items below are tested with. */
export const TESTED_NATS_JS = '3.4';

// ---------------------------------------------------------------------------------------------
// Outgoing headers: a pre-encoded block
// ---------------------------------------------------------------------------------------------

/** A pre-encoded header block: nats.js' `publish` only calls `encode()` on `options.headers`. */
class EncodedHeaders {
  constructor(private readonly bytes: Uint8Array) {}

  encode(): Uint8Array {
    return this.bytes;
  }
}

/**
 * Headers for `nc.publish` that nats.js writes byte for byte as given.
 *
 * Relies on: `ProtocolHandler.publish` calling only `options.headers.encode()` (a method
 * `MsgHdrs` does not declare) and writing its result as the header block.
 *
 * Why: building a `MsgHdrs` validates and canonicalises every key and encodes the block again;
 * in profiles nats.js' header handling was the largest cost of a message. brokerkit writes the
 * block as one string (`wire.ts`), which also makes the published bytes exactly what it checks.
 */
export function encodedHeaders(block: Uint8Array): MsgHdrs {
  return new EncodedHeaders(block) as unknown as MsgHdrs;
}

// ---------------------------------------------------------------------------------------------
// Outgoing core messages: the protocol line
// ---------------------------------------------------------------------------------------------

/** The fields of nats.js' `ProtocolHandler` (`NatsConnectionImpl.protocol`) {@link publishCore} uses. */
export interface ProtocolFields {
  /** Queues a command and its payloads for the socket (and schedules the flush). */
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  /** The server's INFO, once connected. */
  info?: { max_payload?: number };
  /** Set by `drain()`: publishing is over. */
  noMorePublishing?: boolean;
  /** `nc.stats()` counters. */
  outBytes: number;
  outMsgs: number;
}

/** What nats.js' `publish` refuses as a subject (`nats.ts`, `whitespaceRegex`). */
const WHITESPACE = /[ \n\r\t]/;
const CRLF = Buffer.from('\r\n');

function protocolOf(nc: NatsConnection): ProtocolFields | undefined {
  const p = (nc as unknown as { protocol?: ProtocolFields }).protocol;
  return p !== undefined && typeof p.sendCommand === 'function' && typeof p.outBytes === 'number'
    ? p
    : undefined;
}

/**
 * Publish `body` with `headers` on core NATS as `nc.publish(subject, body, { headers })`
 * does, with the `HPUB` line encoded into a pooled Buffer. Returns false, having sent nothing,
 * whenever nats.js would do anything but queue the message (closed or draining connection, no
 * server INFO yet, a subject it refuses, a payload over `max_payload`) or when the fields below
 * are missing: then call `nc.publish`, which throws its own errors.
 *
 * Relies on: `NatsConnectionImpl.protocol` and the `ProtocolHandler` fields of
 * {@link ProtocolFields}; that `ProtocolHandler.publish` is exactly: check `max_payload`, count
 * `outBytes`/`outMsgs`, then `sendCommand("HPUB <subject> <hlen> <total>\r\n", headers.encode(), body, CRLF)`;
 * and that `sendCommand` passes a Uint8Array command through unencoded.
 *
 * Why: `sendCommand` encodes the string line with a `TextEncoder`, which allocates an
 * `ArrayBuffer` per message: 5.7 % of a fan-out profile, the largest single cost of a brokerkit
 * publish. `Buffer.from` takes the bytes from Node's pool instead.
 */
export function publishCore(
  nc: NatsConnection,
  subject: string,
  headers: MsgHdrs,
  body: Uint8Array,
): boolean {
  const p = protocolOf(nc);
  if (p === undefined || p.noMorePublishing !== false || nc.isClosed()) return false;
  // What ProtocolHandler.publish calls too (an EncodedHeaders from `encodedHeaders` just returns its bytes).
  const block = (headers as unknown as { encode(): Uint8Array }).encode();
  const max = p.info?.max_payload;
  const hlen = block.length;
  const len = body.length + hlen;
  if (typeof max !== 'number' || len > max || subject.length === 0 || WHITESPACE.test(subject)) return false;
  p.outBytes += len;
  p.outMsgs++;
  p.sendCommand(Buffer.from(`HPUB ${subject} ${hlen} ${len}\r\n`), block, body, CRLF);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Received messages: the raw bytes
// ---------------------------------------------------------------------------------------------

/**
 * The private fields of nats.js' `MsgImpl` the adapter reads (`JsMsgImpl` keeps its `MsgImpl` in
 * `msg`). Exported for tests that build a message by hand; nothing else should use it.
 */
export interface MsgImplFields {
  /** Everything the server sent after the `HMSG`/`MSG` line: header block, then body. */
  _rdata?: Uint8Array;
  /**
   * The parsed protocol line; `hdr` is the length of the header block, -1 without headers;
   * `subject` the subject's bytes (nats.js decodes them only when `msg.subject` is read).
   */
  _msg?: { hdr?: number; subject?: Uint8Array };
  /** On a `JsMsgImpl`: the core message. */
  msg?: MsgImplFields;
}

function fieldsOf(msg: Msg | JsMsg): MsgImplFields | undefined {
  const m = msg as unknown as MsgImplFields;
  return m._rdata !== undefined ? m : m.msg;
}

/**
 * Length of the raw header block of a received core or JetStream message (0 when it has
 * none), or -1 when the client does not expose its raw bytes (then use `msg.headers`). The block
 * is the first that many bytes of {@link rawData}.
 *
 * Relies on: `MsgImpl._rdata` (header block then body, a view into the read buffer; a Buffer on
 * Node) and `MsgImpl._msg.hdr` (header block length, -1 without headers).
 *
 * Why: `msg.headers` decodes the block into a `MsgHdrsImpl` (a canonicalised key per line, a Map
 * of arrays) which brokerkit would then copy into a plain record. Parsing the bytes directly
 * takes under a quarter of that (0.9 against 4.0 µs for a message with brokerkit's headers plus
 * one user header, micro-benchmark on the 2-core CI machine), and lets a fan-out compare the
 * blocks of back-to-back copies byte-wise and parse them once (`wire.ts`; fan-out went from
 * 0.35 to 0.42–0.49 of bare nats.js with that).
 */
export function rawHeaderLength(msg: Msg | JsMsg): number {
  const m = fieldsOf(msg);
  const hdr = m?._msg?.hdr;
  if (m?._rdata === undefined || typeof hdr !== 'number') return -1;
  return hdr > 0 ? hdr : 0;
}

/**
 * The raw bytes of a received message (header block, then body): only when
 * {@link rawHeaderLength} is not -1. Relies on `MsgImpl._rdata`, see there.
 */
export function rawData(msg: Msg | JsMsg): Uint8Array {
  return fieldsOf(msg)!._rdata!;
}

/**
 * The subject bytes of a received core message, or undefined when the client does not expose
 * them (then use `msg.subject`).
 *
 * Relies on: `MsgImpl._msg.subject` (the subject of the `MSG`/`HMSG` line, a view into the read
 * buffer, valid while the subscription callback runs).
 *
 * Why: `msg.subject` decodes these bytes with a `TextDecoder` for every delivery (3 % of a
 * fan-out profile); the fan-out copies of one message carry the same bytes, so the ephemeral
 * path compares them with the previous copy's and reuses its string (`wire.ts`).
 */
export function rawSubject(msg: Msg): Uint8Array | undefined {
  const subject = (msg as unknown as MsgImplFields)._msg?.subject;
  return subject instanceof Uint8Array ? subject : undefined;
}

// ---------------------------------------------------------------------------------------------
// JetStream deliveries: the ack reply subject and the ack bodies
// ---------------------------------------------------------------------------------------------

/** Every JetStream delivery carries a reply subject starting with this. */
export const ACK_PREFIX = '$JS.ACK.';

/** True when `reply` is the ack subject of a JetStream delivery. */
export function isAckSubject(reply: string | undefined): boolean {
  return reply !== undefined && reply.startsWith(ACK_PREFIX);
}

/** The delivery details {@link parseAckSubject} reads. */
export interface AckSubjectFields {
  /** How often the server delivered the message, this delivery included (1 = first). */
  deliveryCount: number;
  /** The message's sequence in its stream. */
  streamSequence: number;
  /** When the stream stored it, ms since the epoch (the subject carries ns; truncated). */
  storedAtMs: number;
}

/** Start of each token after `$JS.ACK.`; reused (the parse is synchronous). */
const starts = new Int32Array(12);

/** Where token `i` (counted from {@link starts}) of `s` ends, given `count` tokens. */
function tokenEnd(s: string, i: number, count: number): number {
  return i + 1 < count ? starts[i + 1]! - 1 : s.length;
}

/** The decimal number in `s[start, end)`, or -1 when that is empty or not all digits. */
function decimal(s: string, start: number, end: number): number {
  if (start >= end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * Read the delivery details of a JetStream delivery from its reply subject, into `out` (no
 * allocation); false (and `out` untouched) when `reply` is not such a subject.
 *
 * The wire format (nats-architecture-and-design ADR-15, section "JS-ACK"; nats.js' own
 * `parseInfo` in `jetstream/src/jsmsg.ts` reads the same tokens):
 *
 * - before 2.10, 9 tokens: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`
 * - from 2.10, 11 or 12 tokens: `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>[.<random>]`
 *   (domain `_` when there is none)
 *
 * Why not nats.js: its parser is not exported (only through a `JsMsg`, which the adapter does not
 * build: pull consumers are driven with plain requests), and it splits the subject into strings
 * and builds a ten-field object per message. This scans it once without allocating: building
 * a `PulledMessage` went from 525 to 207 ns (2.9 form) and from 557 to 226 ns (2.10 form) against
 * `split('.')` + `Number()` (micro-benchmark on the 2-core CI machine, best of 30 interleaved).
 * The time is read exactly (the ms are the digits before the last six): going through a float
 * of the ns, as `split` + `Number()` did and nats.js' `millis(info.timestampNanos)` does, rounds
 * up by one ms when the ns are within a few hundred of the next ms.
 */
export function parseAckSubject(reply: string, out: AckSubjectFields): boolean {
  if (!reply.startsWith(ACK_PREFIX)) return false;
  let count = 0;
  let from = ACK_PREFIX.length;
  for (;;) {
    if (count === starts.length) return false;
    starts[count++] = from;
    const dot = reply.indexOf('.', from);
    if (dot === -1) break;
    from = dot + 1;
  }
  // Tokens after `$JS.ACK.`: 7 in the old form, 9 or 10 from 2.10 (two more at the front).
  const at = count === 7 ? 2 : count === 9 || count === 10 ? 4 : -1;
  if (at === -1) return false;
  const delivered = decimal(reply, starts[at]!, tokenEnd(reply, at, count));
  const sequence = decimal(reply, starts[at + 1]!, tokenEnd(reply, at + 1, count));
  const tsStart = starts[at + 3]!;
  const tsEnd = tokenEnd(reply, at + 3, count);
  const ms = decimal(reply, tsStart, tsEnd - 6);
  if (delivered < 0 || sequence < 0 || ms < 0 || decimal(reply, tsEnd - 6, tsEnd) < 0) return false;
  out.deliveryCount = delivered;
  out.streamSequence = sequence;
  out.storedAtMs = ms;
  return true;
}

/**
 * The bodies a JetStream delivery is acknowledged with, published to its reply subject (the
 * JetStream consumer acknowledgement protocol; what nats.js' `JsMsg.ack()`, `nak()`, `term()`
 * and `working()` send). Written by the adapter because it answers plain `Msg`s (see
 * {@link parseAckSubject}); pre-encoded once, so an ack allocates nothing.
 */
export const ACK_BODY = Object.freeze({
  ack: Buffer.from('+ACK'),
  nak: Buffer.from('-NAK'),
  term: Buffer.from('+TERM'),
  /** Progress: restart the ack wait. */
  working: Buffer.from('+WPI'),
});

/** A `nak` asking for redelivery after `delayMs` (the server takes the delay in ns). */
export function nakWithDelay(delayMs: number): Uint8Array {
  return Buffer.from(`-NAK {"delay":${Math.round(delayMs) * 1_000_000}}`);
}

// ---------------------------------------------------------------------------------------------
// Error classes nats.js exports only from its internal entry point
// ---------------------------------------------------------------------------------------------

/**
 * JetStream's error classes, from `@nats-io/jetstream/internal` (the public entry exports only
 * `JetStreamApiError` and `JetStreamError`). Used for `instanceof` in `errors.ts`:
 * `JetStreamNotEnabled` (what a JetStream API request gets when nothing answers, e.g. while the
 * server is starting), `StreamNotFoundError` and `ConsumerNotFoundError`.
 */
export const jetStreamErrors: typeof jserrors = jserrors;
