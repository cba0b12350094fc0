"""The queue's Lua scripts: each moves events between its Redis keys in one step.

``faas.invoke.asyncq.queue`` and ``faas.invoke.asyncq.deadletters`` register
them; their keys are documented in ``faas.keys`` and their semantics in
docs/async.md. A script runs atomically, so a crash anywhere
leaves every event in exactly one place.

Every script that queues a new event also puts its request id at the head of
its function's list of recent events (``keys.recent_invocations``): the web
console's Async tab reads its first ``RECENT_MAX``. It is one ``LPUSH`` inside a
script that already runs (no round trip, no argument more), and an ``LTRIM`` back
to ``RECENT_MAX`` once it holds twice that: measured with Redis's commandstats,
1.0-1.7 us more of Redis's time per event in batches of 100 (7.4 -> 8.5-9.1 us),
the client's time per enqueue unchanged within the noise (49-63 us either way).
"""

from faas import keys

# How many of a function's latest async events its recent list shows (it holds up to twice).
RECENT_MAX = 50

# Remember an event queued now: its function is among its counted fields
# (ARGV[first .. first + count - 1], name then value), near the front.
REMEMBER_FUNCTION = f"""
local function remember(rid, first, count)
  for f = first, first + count - 1, 2 do
    if ARGV[f] == 'function' then
      local key = '{keys.recent_invocations("")}' .. ARGV[f + 1]
      if redis.call('LPUSH', key, rid) > {2 * RECENT_MAX} then
        redis.call('LTRIM', key, 0, {RECENT_MAX - 1})
      end
      return
    end
  end
end
"""

# The ``created_at`` of the function whose spec is at ``fn_key``, as an event's
# ``function_created_at`` records it ('0', which no function has, if it is gone).
# ``%.17g`` gives the float back exactly; the worker compares numbers, not text.
# Decoding a spec is a few microseconds: only ticks and destinations are stamped
# here (the invoke API stamps its events with the spec it already holds).
CREATED_FUNCTION = """
local function created_of(fn_key)
  local spec = redis.call('GET', fn_key)
  if not spec then return '0' end
  return string.format('%.17g', cjson.decode(spec).created_at)
end
"""

# Hand events over to a consumer: each taken entry (message id, request id)
# gets its lease recorded and comes back with its invocation and its function's
# spec (false if the function is gone), unless the event already ended (a
# duplicate entry) or is gone (its dead letter deleted): then the entry is
# dropped. With no entries given, up to ``count`` new ones are read here.
TAKE_FUNCTION = """
local function take(stream, group, consumer, count, inv_prefix, fn_prefix, entries)
  if entries == nil then
    entries = {}
    -- No group (Redis lost it): nothing to take; a blocking read re-creates it.
    local reply = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count,
                              'STREAMS', stream, '>')
    if type(reply) == 'table' and reply.err then return {} end
    if reply then
      for _, entry in ipairs(reply[1][2]) do
        local fields, rid = entry[2], ''
        for i = 1, #fields, 2 do
          if fields[i] == 'id' then rid = fields[i + 1] end
        end
        entries[#entries + 1] = {entry[1], rid}
      end
    end
  end
  local taken, specs = {}, {}
  for _, entry in ipairs(entries) do
    local key = inv_prefix .. entry[2]
    local state = redis.call('HGET', key, 'state')
    if (not state) or state == 'succeeded' or state == 'failed' or state == 'dead-lettered' then
      redis.call('XACK', stream, group, entry[1])
      redis.call('XDEL', stream, entry[1])
    else
      redis.call('HSET', key, 'lease', entry[1])
      local fn = redis.call('HGET', key, 'function') or ''
      if specs[fn] == nil then specs[fn] = redis.call('GET', fn_prefix .. fn) end
      -- The record as one string of length-prefixed parts: a client parses one
      -- reply instead of one per field and value.
      local parts = redis.call('HGETALL', key)
      for i = 1, #parts do parts[i] = #parts[i] .. ':' .. parts[i] end
      taken[#taken + 1] = {entry[1], entry[2], table.concat(parts), specs[fn]}
    end
  end
  return taken
end
"""

# Take events for a consumer in one round trip: KEYS[1] the stream; ARGV group,
# consumer, count, invocation and function key prefixes, then the entries to
# take as message id, request id pairs (none: read new ones).
TAKE = (
    TAKE_FUNCTION
    + """
local entries = nil
if #ARGV > 5 then
  entries = {}
  for i = 6, #ARGV, 2 do entries[#entries + 1] = {ARGV[i], ARGV[i + 1]} end
end
return take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], entries)
"""
)

# Spend attempts: count each and mark the event running. KEYS the invocations;
# ARGV per invocation, the attempt's time and the code's hash. Their counts.
BEGIN = """
local attempts = {}
for k = 1, #KEYS do
  local now, sha = ARGV[2 * k - 1], ARGV[2 * k]
  attempts[k] = redis.call('HINCRBY', KEYS[k], 'attempts', 1)
  redis.call('HSET', KEYS[k], 'state', 'running', 'last_attempt_at', now, 'code_sha256', sha)
  redis.call('HSETNX', KEYS[k], 'first_attempt_at', now)
end
return attempts
"""

# Record how deliveries ended, move their events on, and take new events into
# the slots they free. KEYS[1] the stream, then per delivery its invocation, the
# dead letters (mode 'dead') or the delayed set (mode 'retry'; mode 'done'
# expires the record), and the events to enqueue with it. ARGV group, the
# invocation and function key prefixes, then per delivery: message id, mode,
# score or TTL, request id, consumer, how many to take, then counted lists:
# the fields to set, the fields to clear, and the events to enqueue (each its
# counted fields and its request id). Per delivery: whether it recorded (0, 1,
# or 2: recorded as failed, see below), and what it took. A delivery whose lease
# was lost records only a terminal outcome and leaves the lease of the copy that
# runs now alone. ARGV[4] is how long a finished record is kept.
#
# A dead letter whose function was deleted meanwhile (gone, or made again under
# its name: another ``created_at`` than the event's) is not filed under that name
# (the delete already dropped the old function's, and a new function must not
# show it): the event ends ``failed`` instead, without its destination. Checked
# here, in the step that would file it, so a delete cannot slip in between.
SETTLE = (
    TAKE_FUNCTION
    + REMEMBER_FUNCTION
    + CREATED_FUNCTION
    + """
local stream, group, inv_prefix, fn_prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local kept_s = ARGV[4]
local a, k, out = 5, 2, {}
while a <= #ARGV do
  local mid, mode, score, rid = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local consumer, count = ARGV[a + 4], tonumber(ARGV[a + 5])
  local key, target = KEYS[k], KEYS[k + 1]
  k = k + 2
  a = a + 6
  local fields, nfields = a + 1, tonumber(ARGV[a])
  a = a + nfields + 1
  local cleared, ncleared = a + 1, tonumber(ARGV[a])
  a = a + ncleared + 1
  local nthen = tonumber(ARGV[a])
  a = a + 1
  local stale = redis.call('HGET', key, 'lease') ~= mid
  local record = redis.call('EXISTS', key) == 1 and not (stale and mode == 'retry')
  local gone = false
  if record and mode == 'dead' then
    local fn = redis.call('HGET', key, 'function') or ''
    local spec = redis.call('GET', fn_prefix .. fn)
    local stamp = redis.call('HGET', key, 'function_created_at')
    gone = (not spec) or (stamp and tonumber(stamp) ~= cjson.decode(spec).created_at)
    if gone then
      mode = 'done'
      score = kept_s
    end
  end
  if record then
    redis.call('HSET', key, unpack(ARGV, fields, fields + nfields - 1))
    if ncleared > 0 then redis.call('HDEL', key, unpack(ARGV, cleared, cleared + ncleared - 1)) end
    if not stale then redis.call('HDEL', key, 'lease') end
    if gone then
      -- After the outcome's own fields, so these win. (Names are letters, digits, - and _.)
      local fn = redis.call('HGET', key, 'function') or ''
      redis.call('HSET', key, 'state', 'failed', 'error',
        [[{"errorType": "ResourceNotFound", "errorMessage": "function ']] .. fn ..
        [[' was deleted while the event ran: it was not dead-lettered", "stackTrace": []}]])
      redis.call('HDEL', key, 'reason')
    end
    if mode == 'dead' then
      redis.call('PERSIST', key)
      redis.call('ZADD', target, score, rid)
    elseif mode == 'done' then
      redis.call('EXPIRE', key, score)
    else
      redis.call('ZADD', target, score, rid)
    end
  end
  for _ = 1, nthen do
    local n = tonumber(ARGV[a])
    if record and not gone then
      redis.call('HSET', KEYS[k], unpack(ARGV, a + 1, a + n))
      local target_fn = redis.call('HGET', KEYS[k], 'function') or ''
      redis.call('HSET', KEYS[k], 'function_created_at', created_of(fn_prefix .. target_fn))
      redis.call('XADD', stream, '*', 'id', ARGV[a + n + 1])
      remember(ARGV[a + n + 1], a + 1, n)
    end
    a = a + n + 2
    k = k + 1
  end
  redis.call('XACK', stream, group, mid)
  redis.call('XDEL', stream, mid)
  local taken = {}
  if count > 0 then
    taken = take(stream, group, consumer, count, inv_prefix, fn_prefix, nil)
  end
  out[#out + 1] = {(gone and 2) or (record and 1) or 0, taken}
end
return out
"""
)

# Store events and queue them: KEYS[1] the stream, KEYS[2..] the invocations;
# ARGV per event, its fields counted (how many, then name, value, ...) and its
# request id. One script, so all or none are queued.
ENQUEUE = (
    REMEMBER_FUNCTION
    + """
local i = 1
for k = 2, #KEYS do
  local n = tonumber(ARGV[i])
  redis.call('HSET', KEYS[k], unpack(ARGV, i + 1, i + n))
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[i + n + 1])
  remember(ARGV[i + n + 1], i + 1, n)
  i = i + n + 2
end
return #KEYS - 1
"""
)

# Return a delivery to the queue (shutdown): KEYS[1] its invocation, KEYS[2] the
# stream; ARGV group, message id, request id, whether to refund the attempt.
# Only while the lease is still this delivery's (not settled, not swept).
HAND_BACK = """
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
redis.call('HSET', KEYS[1], 'state', 'queued')
redis.call('HDEL', KEYS[1], 'lease')
redis.call('XADD', KEYS[2], '*', 'id', ARGV[3])
return 1
"""

# Enqueue a schedule's tick once across all processes: only if the rule's last
# handled tick is still what the caller read (so its count of skipped ticks is
# right) and the tick's guard key is new; records the tick and the counts, and
# which function (KEYS[5], its spec) the event is for.
ENQUEUE_TICK = (
    REMEMBER_FUNCTION
    + CREATED_FUNCTION
    + """
local last = redis.call('HGET', KEYS[2], ARGV[3]) or ''
if last ~= ARGV[4] then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[3] .. ':fires', 1)
redis.call('HINCRBY', KEYS[2], ARGV[3] .. ':misses', ARGV[5])
redis.call('HSET', KEYS[3], unpack(ARGV, 7))
redis.call('HSET', KEYS[3], 'function_created_at', created_of(KEYS[5]))
redis.call('XADD', KEYS[4], '*', 'id', ARGV[6])
remember(ARGV[6], 7, #ARGV - 6)
return 1
"""
)

# Give entries whose lease lapsed back to the queue, as new entries. An event
# that was running lost its worker: the attempt it began is refunded (the
# function did not fail) and the loss counted in ``workers_lost``, which the
# worker bounds (``faas.invoke.asyncq.retry``).
SWEEP = """
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0',
                           'COUNT', ARGV[4])
local n = 0
for _, entry in ipairs(claimed[2]) do
  redis.call('XACK', KEYS[1], ARGV[1], entry[1])
  redis.call('XDEL', KEYS[1], entry[1])
  local fields = entry[2]
  if fields and fields[2] then
    local key = ARGV[5] .. fields[2]
    redis.call('XADD', KEYS[1], '*', 'id', fields[2])
    if redis.call('HGET', key, 'state') == 'running' then
      redis.call('HSET', key, 'state', 'queued')
      if tonumber(redis.call('HGET', key, 'attempts') or '0') > 0 then
        redis.call('HINCRBY', key, 'attempts', -1)
      end
      redis.call('HINCRBY', key, 'workers_lost', 1)
    end
    redis.call('HDEL', key, 'lease')
    n = n + 1
  end
end
return n
"""

# Move retries that are due from the delayed set into the stream.
PROMOTE = """
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, rid in ipairs(due) do
  redis.call('ZREM', KEYS[1], rid)
  redis.call('XADD', KEYS[2], '*', 'id', rid)
end
return #due
"""

# Forget consumers (dead workers) with nothing pending that have been idle long.
# Checked and deleted in one script: deleting a consumer drops its pending entries.
FORGET = """
local gone = 0
for _, fields in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    gone = gone + 1
  end
end
return gone
"""

# A dead letter back to the queue with fresh attempts and a fresh age.
REDRIVE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'state', 'queued', 'attempts', 0, 'free_retries', 0,
           'workers_lost', 0, 'enqueued_at', ARGV[2])
redis.call('HDEL', KEYS[2], 'reason', 'error', 'result', 'finished_at', 'first_attempt_at',
           'last_attempt_at', 'lease')
redis.call('PERSIST', KEYS[2])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
return 1
"""

DROP_DEAD = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""

# A deleted function's dead letters, a batch at a time (a long list does not hold
# Redis in one script): KEYS[1] its dead letters; ARGV the invocation key prefix and
# how many to drop. Each leaves the set and loses its record in one step, as with
# DROP_DEAD, so a redrive at the same moment either queues it or finds it gone.
# How many are left.
DROP_ALL_DEAD = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[2])
for i = 1, #popped, 2 do redis.call('DEL', ARGV[1] .. popped[i]) end
return redis.call('ZCARD', KEYS[1])
"""
