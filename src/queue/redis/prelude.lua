-- Shared opening of every script. ARGV[1] is the key prefix; the keys a
-- script touches are built from it here rather than passed as KEYS, because
-- some of them (the line a moving user leaves) are only known once the
-- script has read the user's record. That is why the store wants a single
-- Redis rather than a Cluster.
local prefix = ARGV[1]
local users_key = prefix .. 'users'
local seen_key = prefix .. 'seen'
local lines_key = prefix .. 'lines'

local function line_key(project)
  return prefix .. 'line:' .. project
end

-- Milliseconds by the Redis server's clock, so that instances whose own
-- clocks disagree still agree on who has been silent too long.
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Takes a queued user out of its line, the last-seen index and the records;
-- returns the project it waited for, or nil when it was not queued.
local function unqueue(user)
  local record = redis.call('HGET', users_key, user)
  if not record then
    return nil
  end
  local project = cjson.decode(record).p
  local line = line_key(project)
  redis.call('ZREM', line, user)
  -- Redis deletes a sorted set with its last member.
  if redis.call('EXISTS', line) == 0 then
    redis.call('SREM', lines_key, project)
  end
  redis.call('ZREM', seen_key, user)
  redis.call('HDEL', users_key, user)
  return project
end
