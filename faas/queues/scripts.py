"""The queues' Lua scripts: every change of a queue's state is one of them.

Each takes ``KEYS`` = ``faas.keys.sqs_keys(queue)`` (its hash first; the parts
after it) and builds the same table from the stem; a FIFO group's list and a
dead-letter queue's keys are built from the stem too (``ARGV[1]`` is the queue
key prefix), as ``faas.keys`` documents. Time is Redis's own (``TIME``), so
every process agrees on when a message is visible. A message's state is
"count first visibleAt seq group" (``faas.keys``).
"""

from __future__ import annotations

_LIBRARY = r"""
local PARTS = {'tags', 'body', 'state', 'sent', 'ready', 'inflight', 'locks', 'dedup', 'dedupids'}
local function keys_of(stem)
  local q = {conf = stem, stem = stem, wake = stem .. ':wake'}
  for _, part in ipairs(PARTS) do q[part] = stem .. ':' .. part end
  return q
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function get_state(q, id)
  local s = redis.call('HGET', q.state, id)
  if not s then return nil end
  local c, f, v, n, g = string.match(s, '^(%d+) (%d+) (%-?%d+) (%d+) (.*)$')
  return {tonumber(c), tonumber(f), tonumber(v), n, g}
end
local function put_state(q, id, st)
  redis.call('HSET', q.state, id,
    string.format('%d %d %d %s %s', st[1], st[2], st[3], st[4], st[5]))
end
local function group_list(q, g) return q.stem .. ':g:' .. g end
-- A FIFO group with none of its messages in flight is ready when its head is visible.
local function requeue_group(q, g)
  if redis.call('HEXISTS', q.locks, g) == 1 then return end
  local head = redis.call('LINDEX', group_list(q, g), 0)
  if not head then
    redis.call('ZREM', q.ready, g)
    return
  end
  local st = get_state(q, head)
  redis.call('ZADD', q.ready, st and st[3] or 0, g)
end
local function remove(q, fifo, id)
  local was_in_flight = redis.call('ZREM', q.inflight, id) == 1
  redis.call('ZREM', q.sent, id)
  redis.call('HDEL', q.body, id)
  if fifo then
    local st = get_state(q, id)
    redis.call('HDEL', q.state, id)
    if st then
      local g = st[5]
      redis.call('LREM', group_list(q, g), 1, id)
      if was_in_flight and redis.call('HINCRBY', q.locks, g, -1) <= 0 then
        redis.call('HDEL', q.locks, g)
      end
      requeue_group(q, g)
    end
  else
    redis.call('HDEL', q.state, id)
    redis.call('ZREM', q.ready, id)
  end
end
"""

# ARGV: prefix, then per message: id, blob, delay (-1: the queue's), group,
# deduplication id ('' for none), content hash, size. Answers per message "id seq"
# (seq '0' on a standard queue), or "!TooLarge" / "!NoDedup".
SEND = (
    _LIBRARY
    + r"""
local q = keys_of(KEYS[1])
local c = redis.call('HMGET', q.conf, 'fifo', 'delay', 'max', 'cbd')
if not c[1] then return redis.error_reply('NOQUEUE') end
local fifo, qdelay, maxsize, cbd = c[1] == '1', tonumber(c[2]), tonumber(c[3]), c[4] == '1'
local now = now_ms()
if fifo then
  local old = redis.call('ZRANGEBYSCORE', q.dedup, '-inf', now, 'LIMIT', 0, 1000)
  if #old > 0 then
    redis.call('ZREM', q.dedup, unpack(old))
    redis.call('HDEL', q.dedupids, unpack(old))
  end
end
local out = {}
local added = false
for i = 2, #ARGV, 7 do
  local id, blob, delay, group = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local dd, size = ARGV[i + 4], tonumber(ARGV[i + 6])
  if delay < 0 then delay = qdelay end
  local visible = now + delay * 1000
  local r
  if size > maxsize then
    r = '!TooLarge'
  elseif fifo then
    if dd == '' and cbd then dd = ARGV[i + 5] end
    if dd == '' then
      r = '!NoDedup'
    else
      r = redis.call('HGET', q.dedupids, dd)
      if not r then
        local seq = redis.call('HINCRBY', q.conf, 'seq', 1)
        r = id .. ' ' .. seq
        redis.call('HSET', q.dedupids, dd, r)
        redis.call('ZADD', q.dedup, now + 300000, dd)
        redis.call('HSET', q.body, id, blob)
        put_state(q, id, {0, 0, visible, tostring(seq), group})
        redis.call('ZADD', q.sent, now, id)
        if redis.call('RPUSH', group_list(q, group), id) == 1 then requeue_group(q, group) end
        added = true
      end
    end
  else
    redis.call('HSET', q.body, id, blob)
    redis.call('ZADD', q.ready, visible, id)
    redis.call('ZADD', q.sent, now, id)
    r = id .. ' 0'
    added = true
  end
  out[#out + 1] = r
end
if added then redis.call('PUBLISH', q.wake, '') end
return out
"""
)

# ARGV: prefix, max messages, visibility timeout (-1: the queue's). Answers
# {moved to the dead-letter queue, next due (ms, -1 none), then per message:
# id, blob, receive count, first receive (ms), sent (ms), seq}.
RECEIVE = (
    _LIBRARY
    + r"""
local q = keys_of(KEYS[1])
local c = redis.call('HMGET', q.conf, 'fifo', 'vis', 'ret', 'dlq', 'maxrc')
if not c[1] then return redis.error_reply('NOQUEUE') end
local fifo = c[1] == '1'
local now = now_ms()
local max = tonumber(ARGV[2])
local vis = tonumber(ARGV[3])
if vis < 0 then vis = tonumber(c[2]) end
local deadline = now + vis * 1000
local dlq, maxrc = c[4] or '', tonumber(c[5] or '0')

-- Messages whose visibility lapsed come back.
local lapsed = redis.call('ZRANGEBYSCORE', q.inflight, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
for i = 1, #lapsed, 2 do
  local id = lapsed[i]
  redis.call('ZREM', q.inflight, id)
  if fifo then
    local st = get_state(q, id)
    if st and redis.call('HINCRBY', q.locks, st[5], -1) <= 0 then
      redis.call('HDEL', q.locks, st[5])
      requeue_group(q, st[5])
    end
  else
    redis.call('ZADD', q.ready, lapsed[i + 1], id)
  end
end
-- Messages past the retention period go.
local cutoff = now - tonumber(c[3]) * 1000
local old = redis.call('ZRANGEBYSCORE', q.sent, '-inf', cutoff, 'LIMIT', 0, 1000)
for _, id in ipairs(old) do remove(q, fifo, id) end

local out = {0, -1}
local moved, taken = 0, 0
local function over(st) return dlq ~= '' and maxrc > 0 and st[1] + 1 > maxrc end
-- To the dead-letter queue (false: it does not exist, the message is delivered).
local function dead_letter(id, st)
  local d = keys_of(ARGV[1] .. dlq)
  local dfifo = redis.call('HGET', d.conf, 'fifo')
  if not dfifo then return false end
  local blob = redis.call('HGET', q.body, id)
  local sent = redis.call('ZSCORE', q.sent, id) or now
  remove(q, fifo, id)
  redis.call('HSET', d.body, id, blob)
  redis.call('ZADD', d.sent, sent, id)
  if dfifo == '1' then
    local g = st[5] ~= '' and st[5] or 'dead-letters'
    local seq = redis.call('HINCRBY', d.conf, 'seq', 1)
    put_state(d, id, {st[1], st[2], now, tostring(seq), g})
    if redis.call('RPUSH', group_list(d, g), id) == 1 then requeue_group(d, g) end
  else
    put_state(d, id, {st[1], st[2], 0, '0', ''})
    redis.call('ZADD', d.ready, now, id)
  end
  redis.call('PUBLISH', d.wake, '')
  moved = moved + 1
  return true
end
local function deliver(id, st)
  st[1] = st[1] + 1
  if st[2] == 0 then st[2] = now end
  put_state(q, id, st)
  redis.call('ZADD', q.inflight, deadline, id)
  local n = #out
  out[n + 1] = id
  out[n + 2] = redis.call('HGET', q.body, id)
  out[n + 3] = st[1]
  out[n + 4] = st[2]
  out[n + 5] = redis.call('ZSCORE', q.sent, id) or '0'
  out[n + 6] = st[4]
  taken = taken + 1
end

if fifo then
  local groups = redis.call('ZRANGEBYSCORE', q.ready, '-inf', now, 'LIMIT', 0, max)
  for _, g in ipairs(groups) do
    if taken >= max then break end
    local ids = redis.call('LRANGE', group_list(q, g), 0, max - taken - 1)
    local locked = 0
    for _, id in ipairs(ids) do
      local st = get_state(q, id)
      if not st or st[3] > now then break end
      if not (over(st) and dead_letter(id, st)) then
        deliver(id, st)
        locked = locked + 1
      end
    end
    if locked > 0 then
      redis.call('HSET', q.locks, g, locked)
      redis.call('ZREM', q.ready, g)
    else
      requeue_group(q, g)
    end
  end
else
  while taken < max and moved < 100 do
    local ids = redis.call('ZRANGEBYSCORE', q.ready, '-inf', now, 'LIMIT', 0, max - taken)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      redis.call('ZREM', q.ready, id)
      local st = get_state(q, id) or {0, 0, 0, '0', ''}
      if not (over(st) and dead_letter(id, st)) then deliver(id, st) end
    end
  end
end
local nxt = -1
local r = redis.call('ZRANGEBYSCORE', q.ready, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if r[2] then nxt = tonumber(r[2]) end
local f = redis.call('ZRANGE', q.inflight, 0, 0, 'WITHSCORES')
if f[2] and (nxt < 0 or tonumber(f[2]) < nxt) then nxt = tonumber(f[2]) end
out[1], out[2] = moved, nxt
return out
"""
)

# ARGV: prefix, then per handle: id, receive count. A handle of an earlier receive
# (or of a message gone) deletes nothing, and is no error.
DELETE = (
    _LIBRARY
    + r"""
local q = keys_of(KEYS[1])
local fifo = redis.call('HGET', q.conf, 'fifo')
if not fifo then return redis.error_reply('NOQUEUE') end
for i = 2, #ARGV, 2 do
  local st = get_state(q, ARGV[i])
  if st and st[1] == tonumber(ARGV[i + 1]) then remove(q, fifo == '1', ARGV[i]) end
end
return 1
"""
)

# ARGV: prefix, then per handle: id, receive count, timeout (s). Answers per handle
# 0 (changed) or 1 (not in flight under that handle).
CHANGE_VISIBILITY = (
    _LIBRARY
    + r"""
local q = keys_of(KEYS[1])
if redis.call('EXISTS', q.conf) == 0 then return redis.error_reply('NOQUEUE') end
local now = now_ms()
local out = {}
local wake = false
for i = 2, #ARGV, 3 do
  local id, n, t = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local st = get_state(q, id)
  local score = redis.call('ZSCORE', q.inflight, id)
  if st and st[1] == n and score and tonumber(score) > now then
    redis.call('ZADD', q.inflight, now + t * 1000, id)
    if t == 0 then wake = true end
    out[#out + 1] = 0
  else
    out[#out + 1] = 1
  end
end
if wake then redis.call('PUBLISH', q.wake, '') end
return out
"""
)

# KEYS: sqs_keys(queue), then the set of queues. ARGV: prefix, name, then the
# hash's field/value pairs, '--', the tags' key/value pairs. Answers nil when it
# made the queue, else the existing queue's attributes (JSON).
CREATE = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGET', KEYS[1], 'attrs') end
local t = redis.call('TIME')[1]
local i = 3
while ARGV[i] ~= '--' do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEYS[1], 'created', t, 'modified', t)
i = i + 1
while i < #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('SADD', KEYS[#KEYS], ARGV[2])
return false
"""

# KEYS: the queue's hash. ARGV: the attributes JSON the caller read, then
# field/value pairs. Answers 1, or 0 when the attributes changed meanwhile (read again).
SET_ATTRIBUTES = r"""
local old = redis.call('HGET', KEYS[1], 'attrs')
if not old then return redis.error_reply('NOQUEUE') end
if old ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'modified', redis.call('TIME')[1])
return 1
"""

# KEYS: sqs_keys(queue), then the set of queues. ARGV: prefix, name, '1' to delete
# the queue itself (else purge its messages).
PURGE = r"""
local fifo = redis.call('HGET', KEYS[1], 'fifo')
if not fifo then return redis.error_reply('NOQUEUE') end
local stem = KEYS[1]
if fifo == '1' then
  local seen = {}
  local states = redis.call('HVALS', stem .. ':state')
  for _, s in ipairs(states) do
    local g = string.match(s, '^%d+ %d+ %-?%d+ %d+ (.*)$')
    if g and not seen[g] then
      seen[g] = true
      redis.call('DEL', stem .. ':g:' .. g)
    end
  end
end
redis.call('DEL', stem .. ':body', stem .. ':state', stem .. ':sent', stem .. ':ready',
  stem .. ':inflight', stem .. ':locks')
if ARGV[3] == '1' then
  redis.call('DEL', stem, stem .. ':tags', stem .. ':dedup', stem .. ':dedupids')
  redis.call('SREM', KEYS[#KEYS], ARGV[2])
end
return 1
"""
