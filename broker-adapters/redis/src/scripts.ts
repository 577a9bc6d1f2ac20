/**
 * The Lua scripts: every step that must not be split by a crash or by another client runs as one
 * script, which Redis executes atomically — routing a publish to the groups it matches, moving a
 * retry out of the stream into the due-time set and back, writing a dead letter and acking the
 * original, claiming a dead member's messages with their delivery counts, and reading a queue's
 * numbers. Keys are derived by `names.ts` and passed in `KEYS`, except the group streams the
 * publish script fans out to (their names are only known inside Redis, from the routes hash):
 * hence standalone Redis, not Redis Cluster (README: "Redis deployments").
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isNoScript } from './errors.js';
import { PackedCommand } from './packed.js';

/** Helpers shared by the scripts, prepended to those that use them. */
const LIB = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function pairs_to_table(list)
  local t = {}
  for i = 1, #list, 2 do t[list[i]] = list[i + 1] end
  return t
end

local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms, tonumber(seq)
end

local function id_lt(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  am, bm = tonumber(am), tonumber(bm)
  return am < bm or (am == bm and as < bs)
end

local function next_id(id)
  local ms, seq = parse_id(id)
  return ms .. '-' .. string.format('%d', seq + 1)
end

-- The fields of an entry with its attempt set (placed before the body, for XRANGE readers).
local function with_attempt(fields, attempt)
  local out = {}
  local placed = attempt == '1'
  for i = 1, #fields, 2 do
    local name = fields[i]
    if name ~= 'attempt' then
      if name == 'body' and not placed then
        out[#out + 1] = 'attempt'
        out[#out + 1] = attempt
        placed = true
      end
      out[#out + 1] = name
      out[#out + 1] = fields[i + 1]
    end
  end
  if not placed then
    out[#out + 1] = 'attempt'
    out[#out + 1] = attempt
  end
  return out
end

-- True when the entry is pending and held by this consumer (not claimed away by another member).
local function owned(stream, group, consumer, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  return p[1] ~= nil and p[1][2] == consumer
end

-- The XINFO GROUPS fields of one consumer group, or nil.
local function group_fields(stream, group)
  if redis.call('EXISTS', stream) == 0 then return nil end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = pairs_to_table(g)
    if f['name'] == group then return f end
  end
  return nil
end

-- Entries not yet delivered to the group: its lag, or counted when Redis cannot tell it.
local function ready_count(stream, f)
  if f['lag'] then return f['lag'] end
  return #redis.call('XRANGE', stream, '(' .. f['last-delivered-id'], '+')
end

-- Parked entries whose time has come go back to the end of their stream. Returns how many moved
-- and how long until the next one is due (-1: none parked).
local function move_due(due, park, stream, limit)
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
  local alive = #ids > 0 and redis.call('EXISTS', stream) == 1
  for _, pid in ipairs(ids) do
    local e = redis.call('XRANGE', park, pid, pid)
    if e[1] and alive then redis.call('XADD', stream, '*', unpack(e[1][2])) end
    redis.call('XDEL', park, pid)
    redis.call('ZREM', due, pid)
  end
  local nxt = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  local wait = -1
  if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
  return #ids, wait
end

-- Trim what every group of the stream has acknowledged: below the first pending entry and the
-- first undelivered one, never anything unread (MINID ~ trims whole nodes only: never more).
local function trim_acked(stream)
  if redis.call('EXISTS', stream) == 0 then return 0 end
  local threshold = nil
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = pairs_to_table(g)
    local t = next_id(f['last-delivered-id'])
    if f['pending'] > 0 then
      local p = redis.call('XPENDING', stream, f['name'])
      if id_lt(p[2], t) then t = p[2] end
    end
    if threshold == nil or id_lt(t, threshold) then threshold = t end
  end
  if threshold == nil then return 0 end
  return redis.call('XTRIM', stream, 'MINID', '~', threshold)
end

local function create_group(stream, group, start)
  local r = redis.pcall('XGROUP', 'CREATE', stream, group, start, 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
    return redis.error_reply(r.err)
  end
  return nil
end
`;

/** A Lua script run by SHA, loaded again (EVAL) when the server does not know it (a restart). */
export class LuaScript {
  readonly sha: string;
  readonly source: string;

  constructor(
    readonly name: string,
    body: string,
    lib = true,
  ) {
    this.source = lib ? LIB + body : body;
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  /**
   * Run with `keys` and `args`; replies as Buffers when `buffers` (message bodies). The command
   * leaves as one packed buffer (src/packed.ts): a batched publish carries thousands of arguments,
   * which ioredis would copy, scan and lay out through a list of parts.
   */
  run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | Buffer | number)[],
    buffers = false,
  ): Promise<unknown> {
    const argv: (string | Buffer)[] = new Array<string | Buffer>(2 + keys.length + args.length);
    argv[0] = this.sha;
    argv[1] = String(keys.length);
    let at = 2;
    for (let i = 0; i < keys.length; i++) argv[at++] = keys[i]!;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      argv[at++] = typeof arg === 'number' ? String(arg) : arg;
    }
    return send(redis, 'EVALSHA', argv, buffers).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      const withSource = argv.slice();
      withSource[0] = this.source;
      return send(redis, 'EVAL', withSource, buffers);
    });
  }
}

function send(redis: Redis, name: string, args: (string | Buffer)[], buffers: boolean): Promise<unknown> {
  const command = new PackedCommand(name, args, buffers ? null : 'utf8');
  void redis.sendCommand(command);
  return command.promise as Promise<unknown>;
}

/** Topic pattern matching on a topic's tokens ('*' one token, '>' one or more at the end). */
const MATCH_TOKENS = `
local function match_tokens(pattern, tokens)
  local i = 0
  for want in string.gmatch(pattern, '[^.]+') do
    i = i + 1
    if want == '>' then return #tokens >= i end
    local got = tokens[i]
    if got == nil or (want ~= '*' and want ~= got) then return false end
  end
  return #tokens == i
end
`;

/**
 * publish: store the event in the stream of every group whose pattern matches the topic, and in
 * `bk:ev:<first token>` (trimmed to about ARGV[1] entries) while an ephemeral subscriber listens
 * (KEYS[3] exists) or ARGV[5] is '1' — in one step: a group gets exactly the events published
 * after it was registered. With KEYS[4] (de-duplication on), an id seen within the window stores
 * nothing and returns 0.
 * KEYS: event stream, routes hash, listen key[, dedup key]; ARGV: maxlen, topic, group stream
 * prefix, window, keep event stream, fields…
 */
export const PUBLISH = new LuaScript(
  'publish',
  MATCH_TOKENS +
    `

if KEYS[4] and not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[4]) then return 0 end
if ARGV[5] == '1' or redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 6))
end
local routes = redis.call('HGETALL', KEYS[2])
local topic = ARGV[2]
local tokens = nil
for i = 1, #routes, 2 do
  local pattern = routes[i + 1]
  local hit = pattern == topic
  if not hit then
    local wild = string.find(pattern, '*', 1, true)
    if not wild and string.sub(pattern, -2) == '.>' then
      -- 'a.b.>': the topic starts with 'a.b.' and has one more token at least (the common case).
      local prefix = string.sub(pattern, 1, -2)
      hit = #topic > #prefix and string.sub(topic, 1, #prefix) == prefix
    elseif wild or string.sub(pattern, -1) == '>' then
      if tokens == nil then
        tokens = {}
        for tok in string.gmatch(topic, '[^.]+') do tokens[#tokens + 1] = tok end
      end
      hit = match_tokens(pattern, tokens)
    end
  end
  if hit then redis.call('XADD', ARGV[3] .. routes[i], '*', unpack(ARGV, 6)) end
end
return 1
`,
  false,
);

/**
 * publish, batched: the publishes of one tick to one first token in one call, each routed as
 * {@link PUBLISH} routes one, in order — one script run, one `HGETALL` of the routes and one look
 * at the listen key for all of them (no de-duplication: with it on, each publish runs PUBLISH).
 * KEYS: event stream, routes hash, listen key; ARGV: maxlen, group stream prefix, keep event
 * stream, then per publish: topic, number of field arguments, the field arguments.
 * Returns how many publishes it stored.
 */
export const PUBLISH_BATCH = new LuaScript(
  'publish-batch',
  MATCH_TOKENS +
    `

local listening = ARGV[3] == '1' or redis.call('EXISTS', KEYS[3]) == 1
local routes = redis.call('HGETALL', KEYS[2])
-- Per route: its stream, its pattern, and how to match it (1 exact, 2 prefix 'a.b.>', 3 tokens).
local streams, patterns, kinds, prefixes = {}, {}, {}, {}
for i = 1, #routes, 2 do
  local pattern = routes[i + 1]
  local n = #streams + 1
  streams[n] = ARGV[2] .. routes[i]
  patterns[n] = pattern
  local wild = string.find(pattern, '*', 1, true)
  if not wild and string.sub(pattern, -2) == '.>' then
    kinds[n] = 2
    prefixes[n] = string.sub(pattern, 1, -2)
  elseif wild or string.sub(pattern, -1) == '>' then
    kinds[n] = 3
  else
    kinds[n] = 1
  end
end
local i = 4
local stored = 0
while i <= #ARGV do
  local topic = ARGV[i]
  local first = i + 2
  local last = i + 1 + tonumber(ARGV[i + 1])
  if listening then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, first, last))
  end
  local tokens = nil
  for r = 1, #streams do
    local kind = kinds[r]
    local hit
    if kind == 1 then
      hit = patterns[r] == topic
    elseif kind == 2 then
      local prefix = prefixes[r]
      hit = #topic > #prefix and string.sub(topic, 1, #prefix) == prefix
    else
      if tokens == nil then
        tokens = {}
        for tok in string.gmatch(topic, '[^.]+') do tokens[#tokens + 1] = tok end
      end
      hit = match_tokens(patterns[r], tokens)
    end
    if hit then redis.call('XADD', streams[r], '*', unpack(ARGV, first, last)) end
  end
  stored = stored + 1
  i = last + 1
end
return stored
`,
  false,
);

/**
 * send with de-duplication: the id's key and the entry in one step. Returns 1 stored, 0 a
 * duplicate, -1 the queue's stream is gone (the caller provisions it and sends again).
 * KEYS: queue stream, dedup key; ARGV: window, fields…
 */
export const SEND_DEDUP = new LuaScript(
  'send-dedup',
  `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if not redis.call('XADD', KEYS[1], 'NOMKSTREAM', '*', unpack(ARGV, 2)) then
  redis.call('DEL', KEYS[2])
  return -1
end
return 1
`,
  false,
);

/**
 * send with delayMs: park the message until it is due. Returns 1, 0 (a duplicate) or -1 (the
 * queue's stream is gone). KEYS: queue stream, park, due[, dedup key]; ARGV: delay ms, window, fields…
 */
export const SEND_DELAYED = new LuaScript(
  'send-delayed',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if KEYS[4] and not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[2]) then return 0 end
local pid = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('ZADD', KEYS[3], now_ms() + tonumber(ARGV[1]), pid)
return 1
`,
);

/**
 * Register a work queue and create its consumer group at the start of its stream (what was sent
 * before the first consumer is kept). Returns the name's role: `queue`, or another (a conflict).
 * KEYS: names hash, queue stream; ARGV: name.
 */
export const ENSURE_QUEUE = new LuaScript(
  'ensure-queue',
  `
local have = redis.call('HGET', KEYS[1], ARGV[1])
if have and have ~= 'queue' then return have end
local err = create_group(KEYS[2], ARGV[1], '0')
if err then return err end
if not have then redis.call('HSET', KEYS[1], ARGV[1], 'queue') end
return 'queue'
`,
);

/**
 * Register a group: its route (pattern) and its own stream with a consumer group, created at the
 * stream's end. Returns the name's role: `group <pattern>`, or another (a conflict).
 * KEYS: names hash, routes hash, group stream; ARGV: name, pattern.
 */
export const ENSURE_GROUP = new LuaScript(
  'ensure-group',
  `
local want = 'group ' .. ARGV[2]
local have = redis.call('HGET', KEYS[1], ARGV[1])
if have and have ~= want then return have end
local err = create_group(KEYS[3], ARGV[1], '$')
if err then return err end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if not have then redis.call('HSET', KEYS[1], ARGV[1], want) end
return want
`,
);

/**
 * Put entries this consumer holds back at the end of the stream, each as the given attempt, and
 * ack the originals: a failed settle (attempt + 1), a retry without delay, a message prefetched
 * by a closing member (same attempt). Entries claimed away by another member are left alone.
 * KEYS: stream; ARGV: group, consumer, then (entry id, attempt) pairs. Returns how many moved.
 */
export const REQUEUE = new LuaScript(
  'requeue',
  `
local moved = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if owned(KEYS[1], ARGV[1], ARGV[2], id) then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    if e[1] then
      redis.call('XADD', KEYS[1], '*', unpack(with_attempt(e[1][2], ARGV[i + 1])))
      moved = moved + 1
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
  end
end
return moved
`,
);

/**
 * A retry with a delay: the entry is parked as the next attempt with its due time, and the
 * original acked, in one step. KEYS: stream, park, due; ARGV: group, consumer, entry id, attempt,
 * delay ms. Returns 1, or 0 when the entry was claimed away meanwhile.
 */
export const PARK = new LuaScript(
  'park',
  `
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if e[1] then
  local pid = redis.call('XADD', KEYS[2], '*', unpack(with_attempt(e[1][2], ARGV[4])))
  redis.call('ZADD', KEYS[3], now_ms() + tonumber(ARGV[5]), pid)
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1
`,
);

/**
 * A dead letter: stored in the dead-letter stream and the original acked in one step (a crash
 * can neither lose nor duplicate it). KEYS: stream, dead-letter stream; ARGV: group, consumer,
 * entry id, fields… Returns 1, or 0 when the entry was claimed away meanwhile.
 */
export const DEAD_LETTER = new LuaScript(
  'dead-letter',
  `
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1
`,
);

/** Due parked entries back to the stream. KEYS: due, park, stream; ARGV: limit. Returns {moved, wait ms}. */
export const MOVE_DUE = new LuaScript(
  'move-due',
  `
local moved, wait = move_due(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return {moved, wait}
`,
);

/**
 * Claim entries idle for longer than the visibility timeout (a member that died or lost its
 * connection), with their delivery counts, which XAUTOCLAIM does not return; then forget
 * consumers that hold nothing and have been silent for twice the timeout.
 * KEYS: stream; ARGV: group, consumer, min idle ms, cursor, count.
 * Returns {next cursor, {{id, fields, delivery count}, …}}.
 */
export const CLAIM = new LuaScript(
  'claim',
  `
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if type(e) == 'table' and e[1] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    out[#out + 1] = {e[1], e[2], p[1] and p[1][4] or 1}
  end
end
local silent = 2 * tonumber(ARGV[3])
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = pairs_to_table(c)
  if f['name'] ~= ARGV[2] and f['pending'] == 0 and f['idle'] > silent then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
  end
end
return {r[1], out}
`,
);

/**
 * After a reconnect: take back what this consumer holds on the server but not locally (a read
 * whose reply was lost with the connection), with delivery counts.
 * KEYS: stream; ARGV: group, consumer, count, ids held locally… Returns {{id, fields, count}, …}.
 */
export const RECOVER = new LuaScript(
  'recover',
  `
local skip = {}
for i = 4, #ARGV do skip[ARGV[i]] = true end
local out = {}
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[3]) + #ARGV - 3, ARGV[2])
for _, x in ipairs(p) do
  if not skip[x[1]] and #out < tonumber(ARGV[3]) then
    local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, x[1])
    if type(e[1]) == 'table' then out[#out + 1] = {e[1][1], e[1][2], x[4] + 1} end
  end
end
return out
`,
  false,
);

/** Trim acknowledged entries. KEYS: stream. Returns how many were trimmed. */
export const TRIM = new LuaScript('trim', `return trim_acked(KEYS[1])`);

/** Presence of a member: refreshed with a TTL, or removed with ttl 0. KEYS: members; ARGV: member, ttl ms. */
export const PRESENCE = new LuaScript(
  'presence',
  `
if ARGV[2] == '0' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
`,
);

/**
 * A member leaves: presence removed, and its consumer deleted when it holds nothing (a consumer
 * with pending entries stays, so they can be claimed). KEYS: members, stream; ARGV: consumer, group.
 */
export const LEAVE = new LuaScript(
  'leave',
  `
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local p = redis.pcall('XPENDING', KEYS[2], ARGV[2], '-', '+', 1, ARGV[1])
if type(p) == 'table' and not p.err and #p == 0 then
  redis.pcall('XGROUP', 'DELCONSUMER', KEYS[2], ARGV[2], ARGV[1])
  return 1
end
return 0
`,
  false,
);

/**
 * Numbers of a queue or group, after moving what is due: {ready, delivered-unacked + parked,
 * live members}. KEYS: stream, due, park, members; ARGV: group.
 */
export const INFO = new LuaScript(
  'info',
  `
move_due(KEYS[2], KEYS[3], KEYS[1], 1000)
local depth, pending = 0, 0
local f = group_fields(KEYS[1], ARGV[1])
if f then
  depth = ready_count(KEYS[1], f)
  pending = f['pending']
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  depth = redis.call('XLEN', KEYS[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now_ms())
return {depth, pending + redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[4])}
`,
);

/**
 * Purge the ready entries of a queue or group: the consumer group jumps to the end of the stream
 * (its read counter kept exact), then what it skipped is trimmed. In-flight and parked entries
 * stay. KEYS: stream; ARGV: group. Returns how many were ready.
 */
export const PURGE = new LuaScript(
  'purge',
  `
local f = group_fields(KEYS[1], ARGV[1])
if not f then return 0 end
local n = ready_count(KEYS[1], f)
local s = pairs_to_table(redis.call('XINFO', 'STREAM', KEYS[1]))
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], '$', 'ENTRIESREAD', s['entries-added'])
trim_acked(KEYS[1])
return n
`,
);

/**
 * Delete a queue or group with its companions. KEYS: names, routes (the names hash again for a
 * queue), stream, dead-letter stream, due, park, members; ARGV: name. Returns 0 when unknown.
 */
export const DELETE = new LuaScript(
  'delete',
  `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return 1
`,
  false,
);

/**
 * Move one dead letter back to its origin: removed from the dead-letter stream and added to the
 * origin's in one step, so a replay retried or run twice moves each once.
 * KEYS: dead-letter stream, origin stream; ARGV: dead letter id, fields…
 */
export const REPLAY = new LuaScript(
  'replay',
  `
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
`,
  false,
);

/**
 * Where an event stream stands: {last generated id, entries ever added, length} ({'0-0', 0, 0}
 * when it does not exist). Ephemeral subscribers start there and use the counts to notice events
 * trimmed before they read them. KEYS: event stream.
 */
export const STREAM_POSITION = new LuaScript(
  'stream-position',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', 0, 0} end
local f = pairs_to_table(redis.call('XINFO', 'STREAM', KEYS[1]))
return {f['last-generated-id'], f['entries-added'], f['length']}
`,
);

// -- request / reply (src/rpc.ts) -------------------------------------------------------------

/** Topic pattern matching as the publish script does it ('*' one token, '>' one or more at the end). */
const MATCH =
  MATCH_TOKENS +
  `
local function match(pattern, topic)
  if pattern == topic then return true end
  local tokens = {}
  for tok in string.gmatch(topic, '[^.]+') do tokens[#tokens + 1] = tok end
  return match_tokens(pattern, tokens)
end
`;

/**
 * A request: pushed (`LPUSH`) onto the list of every responder route whose pattern matches the
 * topic — an ungrouped responder's own, or one shared by a group's members — that has a live
 * member; routes without one are forgotten on the way. Each list's TTL is raised to the request's
 * timeout, so what a dead responder never took goes with it. Returns how many routes got it (0 =
 * no responder). KEYS: routes of the topic's first token, routes of wildcard-first patterns;
 * ARGV: topic, timeout ms, route key prefix, frame.
 */
export const RPC_REQUEST = new LuaScript(
  'rpc-request',
  MATCH +
    `
local topic, ttl, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = nil
local sent = 0
for k = 1, 2 do
  local routes = redis.call('HGETALL', KEYS[k])
  for i = 1, #routes, 2 do
    if match(routes[i + 1], topic) then
      local id = routes[i]
      local members = prefix .. 'm:' .. id
      local list = prefix .. 'q:' .. id
      if now == nil then now = now_ms() end
      redis.call('ZREMRANGEBYSCORE', members, '-inf', now)
      if redis.call('EXISTS', members) == 1 then
        redis.call('LPUSH', list, ARGV[4])
        local left = redis.call('PTTL', list)
        if left < ttl then redis.call('PEXPIRE', list, ttl) end
        sent = sent + 1
      else
        redis.call('HDEL', KEYS[k], id)
        redis.call('DEL', list)
      end
    end
  end
end
return sent
`,
);

/**
 * A responder member announces itself (at start, every few seconds, after a reconnect): its
 * route with its pattern, and its presence with a TTL. KEYS: routes hash, members zset;
 * ARGV: route id, pattern, member, ttl ms.
 */
export const RPC_REGISTER = new LuaScript(
  'rpc-register',
  `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[4]), ARGV[3])
`,
);

/**
 * A responder member leaves. The last live member of a route also removes the route and takes
 * what is still in its list (requests that arrived before it left: it answers them).
 * KEYS: routes hash, members zset, list; ARGV: route id, member. Returns the requests left.
 */
export const RPC_LEAVE = new LuaScript(
  'rpc-leave',
  `
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms())
if redis.call('ZCARD', KEYS[2]) > 0 then return {} end
redis.call('HDEL', KEYS[1], ARGV[1])
local left = redis.call('LRANGE', KEYS[3], 0, -1)
redis.call('DEL', KEYS[3], KEYS[2])
return left
`,
);

/**
 * A reply: appended to the requester's reply list, whose TTL is renewed so a requester that died
 * leaves nothing behind for long. KEYS: reply list; ARGV: ttl ms, frame.
 */
export const RPC_REPLY = new LuaScript(
  'rpc-reply',
  `
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`,
  false,
);

/** Every script, for loading them once per connection. */
export const ALL_SCRIPTS: readonly LuaScript[] = [
  PUBLISH,
  PUBLISH_BATCH,
  SEND_DEDUP,
  SEND_DELAYED,
  ENSURE_QUEUE,
  ENSURE_GROUP,
  REQUEUE,
  PARK,
  DEAD_LETTER,
  MOVE_DUE,
  CLAIM,
  RECOVER,
  TRIM,
  PRESENCE,
  LEAVE,
  INFO,
  PURGE,
  DELETE,
  REPLAY,
  STREAM_POSITION,
  RPC_REQUEST,
  RPC_REGISTER,
  RPC_LEAVE,
  RPC_REPLY,
];
