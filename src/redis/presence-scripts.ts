// The Lua scripts of redisPresence(). Each runs atomically in Redis, so one change is
// seen (and announced) exactly once however many processes race. Times come from the
// Redis server's clock (TIME), so hosts with skewed clocks agree on which lease is live.
//
// Keys of one room R (P is the prefix, which holds no '{'; all keys of R share the hash tag
// {rR}, so on Redis Cluster each script's keys are in one slot, on the master that runs it):
//   P m:{rR}                     sorted set: member -> the latest expiry of its holders (ms)
//   P h:<length of R>:{rR}:<member>  sorted set: holder (a process id) -> its expiry (ms)
// The length makes every (room, member) its own key whatever characters they hold. SWEEP
// builds holders keys from their prefix (ARGV): undeclared, but in the declared key's slot.
// Events go to the channel P e:{rR} as one byte 'j' or 'l' and then the member (PUBLISH:
// on a cluster it reaches subscribers on every node).
// Leases expire; expired members are found with ZRANGEBYSCORE on the room's set by
// whichever living process sweeps the room (no KEYS or SCAN of the keyspace). Each
// write sets the keys' PEXPIRE to four holds (two leases), long after every hold in them
// expired and was swept, so a room nobody renews vanishes.

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Removes the member whose holders all expired; announces the leave. Expects now. */
const EXPIRE_MEMBER = `local function settle(members, holders, member, channel)
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
  local top = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')
  if #top == 0 then
    redis.call('DEL', holders)
    if redis.call('ZREM', members, member) == 1 then redis.call('PUBLISH', channel, 'l' .. member) end
    return 1
  end
  redis.call('ZADD', members, top[2], member)
  return 0
end`;

/**
 * Join or renew. KEYS: members, holders. ARGV: holder, holdMs (how long this renewal keeps the
 * hold), member, channel.
 * Announces a join when the member had no live lease (after the leave of an expired one).
 */
export const JOIN = `${NOW}
${EXPIRE_MEMBER}
local hold = tonumber(ARGV[2])
local old = redis.call('ZSCORE', KEYS[1], ARGV[3])
if old and tonumber(old) <= now then
  settle(KEYS[1], KEYS[2], ARGV[3], ARGV[4])
  old = redis.call('ZSCORE', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], now + hold, ARGV[1])
redis.call('PEXPIRE', KEYS[2], hold * 4)
redis.call('ZADD', KEYS[1], 'GT', now + hold, ARGV[3])
redis.call('PEXPIRE', KEYS[1], hold * 4)
if not old then redis.call('PUBLISH', ARGV[4], 'j' .. ARGV[3]) return 1 end
return 0`;

/** Ends one holder's lease. KEYS: members, holders. ARGV: holder, member, channel. */
export const LEAVE = `${NOW}
${EXPIRE_MEMBER}
redis.call('ZREM', KEYS[2], ARGV[1])
return settle(KEYS[1], KEYS[2], ARGV[2], ARGV[3])`;

/**
 * Removes the room's expired members (announcing each leave), then returns the live
 * members when ARGV[2] is '1'. KEYS: members. ARGV: channel, list, the holders keys' prefix.
 */
export const SWEEP = `${NOW}
${EXPIRE_MEMBER}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  settle(KEYS[1], ARGV[3] .. member, member, ARGV[1])
end
if ARGV[2] == '1' then return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf') end
return 0`;
