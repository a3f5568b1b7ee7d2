"""The engine-side steps, each one Lua script on one account's keys, so each is atomic: the lease check and
what it guards happen in the same step. A collector that lost its lease (paused, partitioned, too slow) can
neither be granted a request nor publish a change.

Times come from the engine's clock (TIME), the same for every collector whatever their own clocks say.
"""

from __future__ import annotations

from typing import Any

from callmon.team.connect import Engine

NOT_LEADER = -1

# KEYS: lease, fence. ARGV: owner, ttl ms.
# {1, fence}: renewed; {2, fence}: taken now; {0, owner, ms left}: someone else holds it.
ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
elseif not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {2, redis.call('INCR', KEYS[2])}
end
return {0, owner, redis.call('PTTL', KEYS[1])}
"""

# KEYS: lease, handover. ARGV: owner, account. Standbys blocked on the handover stream take it at once.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100', '*', 'a', ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease, log. ARGV: owner, requests, window ms, slack ms, request id.
# {1, 0}: granted and counted; {0, ms}: wait this long; {-1, 0}: not the leader.
BUDGET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local span = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - span)
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], span)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + span - now}
"""

# KEYS: log. ARGV: the caller's clock now (ms), span ms, then (request id, caller's ms) pairs.
# Requests a collector made while it could not reach the engine, counted on the engine's clock.
NOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local offset = now - tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[i + 1]) + offset, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: lease, changes, seq, calls, written, inbox pos, health.
# ARGV: owner, max stream length, inbox pos ('' none), health ('' none), then (call id, value) pairs.
# Returns the stream ids of the changes, in order, or -1 when the caller is not the leader.
PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = {}
for i = 5, #ARGV, 2 do
  local n = redis.call('INCR', KEYS[3])
  local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', ARGV[i], 'n', n, 'v', ARGV[i + 1])
  redis.call('HSET', KEYS[4], ARGV[i], id .. '\\n' .. ARGV[i + 1])
  redis.call('ZADD', KEYS[5], now, ARGV[i])
  ids[#ids + 1] = id
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[6], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[7], ARGV[4]) end
return ids
"""

# KEYS: auth breaker. ARGV: the value it had. Lifted only if nobody recorded another rejection since.
LIFT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: calls, written, changes. ARGV: cutoff ms, batch. Prunes calls not published since the cutoff.
PRUNE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
end
redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[1])
return #ids
"""


class Scripts:
    def __init__(self, engine: Engine) -> None:
        self.acquire: Any = engine.register_script(ACQUIRE)
        self.release: Any = engine.register_script(RELEASE)
        self.budget: Any = engine.register_script(BUDGET)
        self.note: Any = engine.register_script(NOTE)
        self.publish: Any = engine.register_script(PUBLISH)
        self.prune: Any = engine.register_script(PRUNE)
        self.lift: Any = engine.register_script(LIFT)


def text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
